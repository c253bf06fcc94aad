-- Base images (issue 13): why a build ran (reason: "push",
-- "base_image REF sha256:old… → sha256:new…") and the FROM images it was
-- built on with the digests used (bases: a JSON array of {ref, digest,
-- platform}); base_checks is the base-image watcher's state per image
-- reference, shared by every replica: the digest the registry served last,
-- since when, and when the next check is due.

ALTER TABLE builds ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN bases TEXT NOT NULL DEFAULT '[]';

CREATE TABLE base_checks (
	ref        TEXT    PRIMARY KEY,
	digest     TEXT    NOT NULL DEFAULT '',
	seen_at    BIGINT  NOT NULL DEFAULT 0,
	checked_at BIGINT  NOT NULL DEFAULT 0,
	next_at    BIGINT  NOT NULL,
	failures   INTEGER NOT NULL DEFAULT 0,
	last_error TEXT    NOT NULL DEFAULT ''
);
