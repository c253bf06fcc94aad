-- Claims: the replica that claimed a running build and until when its lease
-- holds (unix nanoseconds); see Store.Heartbeat.

ALTER TABLE builds ADD COLUMN claimed_by  TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN lease_until INTEGER;
