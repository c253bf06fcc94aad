-- The per-platform images of a multi-platform build (projects[].platforms):
-- a JSON array of {platform, digest, builder}.

ALTER TABLE builds ADD COLUMN platforms TEXT NOT NULL DEFAULT '[]';
