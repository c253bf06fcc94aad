-- Who started a build and who asked to cancel it (build result started_by,
-- canceled_by): an API token's name, "webhook", "schedule", "reconcile",
-- "dashboard:<token name>"... never a token's text.

ALTER TABLE builds ADD COLUMN started_by TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN canceled_by TEXT NOT NULL DEFAULT '';
