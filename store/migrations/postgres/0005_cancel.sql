-- A cancel asked through one replica for a build another replica runs
-- (Store.RequestCancel).

ALTER TABLE builds ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false;
