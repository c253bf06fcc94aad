-- Builds, webhook deliveries and schedule marks.
-- Times are unix nanoseconds (UTC); tags, stages, deploys and build IDs are
-- JSON arrays.

CREATE TABLE builds (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	project      TEXT    NOT NULL,
	trigger_kind TEXT    NOT NULL,
	ref          TEXT    NOT NULL DEFAULT '',
	commit_sha   TEXT    NOT NULL DEFAULT '',
	schedule     TEXT    NOT NULL DEFAULT '',
	due_at       INTEGER,
	status       TEXT    NOT NULL,
	image        TEXT    NOT NULL DEFAULT '',
	digest       TEXT    NOT NULL DEFAULT '',
	build_key    TEXT    NOT NULL DEFAULT '',
	tags         TEXT    NOT NULL DEFAULT '[]',
	stages       TEXT    NOT NULL DEFAULT '[]',
	deploys      TEXT    NOT NULL DEFAULT '[]',
	error        TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	started_at   INTEGER,
	finished_at  INTEGER,
	attempts     INTEGER NOT NULL DEFAULT 0,
	no_push      INTEGER NOT NULL DEFAULT 0,
	no_deploy    INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX builds_status      ON builds (status, id);
CREATE INDEX builds_project_ref ON builds (project, ref, id);
CREATE INDEX builds_commit      ON builds (project, commit_sha);

CREATE TABLE deliveries (
	id          TEXT    PRIMARY KEY,
	event       TEXT    NOT NULL DEFAULT '',
	outcome     TEXT    NOT NULL DEFAULT '',
	reason      TEXT    NOT NULL DEFAULT '',
	build_ids   TEXT    NOT NULL DEFAULT '[]',
	received_at INTEGER NOT NULL
);

CREATE TABLE schedule_marks (
	project  TEXT    NOT NULL,
	schedule TEXT    NOT NULL,
	due_at   INTEGER NOT NULL,
	PRIMARY KEY (project, schedule)
);
