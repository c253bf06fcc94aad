-- Every deploy of an image to a swarm service, by a build's deploy stage or
-- by hand (a rollback through the API): what ran before and after.

CREATE TABLE deployments (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	project         TEXT    NOT NULL,
	target          TEXT    NOT NULL,
	stack           TEXT    NOT NULL DEFAULT '',
	service         TEXT    NOT NULL,
	image           TEXT    NOT NULL DEFAULT '',
	previous_digest TEXT    NOT NULL DEFAULT '',
	digest          TEXT    NOT NULL DEFAULT '',
	build_id        INTEGER NOT NULL DEFAULT 0,
	commit_sha      TEXT    NOT NULL DEFAULT '',
	kind            TEXT    NOT NULL DEFAULT 'build',
	status          TEXT    NOT NULL,
	error           TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL
);

CREATE INDEX deployments_service ON deployments (target, service, id);
