-- The builder (engine of the builder pool) a build ran on, and why it was
-- chosen there.

ALTER TABLE builds ADD COLUMN builder        TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN builder_reason TEXT NOT NULL DEFAULT '';
