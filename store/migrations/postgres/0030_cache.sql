-- Layer cache use of a BuildKit build (build result "cache"): the
-- Dockerfile steps it ran and those taken from a cache (the engine's, or a
-- registry's through projects[].cache.from). 0 and 0 when unknown.

ALTER TABLE builds ADD COLUMN cached_steps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN total_steps INTEGER NOT NULL DEFAULT 0;
