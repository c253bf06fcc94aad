-- Notifications waiting to be sent (an outbox): each is tried until it is
-- sent or its deadline passes, surviving restarts; a replica sending one
-- holds it by moving next_at past the attempt.

CREATE TABLE notifications (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	target     TEXT    NOT NULL,
	event      TEXT    NOT NULL,
	build_id   INTEGER  NOT NULL DEFAULT 0,
	body       TEXT    NOT NULL,
	status     TEXT    NOT NULL DEFAULT 'pending',
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    INTEGER  NOT NULL,
	deadline   INTEGER  NOT NULL,
	last_error TEXT    NOT NULL DEFAULT '',
	created_at INTEGER  NOT NULL,
	done_at    INTEGER
);

CREATE INDEX notifications_due ON notifications (status, next_at);
