-- Keys generated once and shared by every process of the database (the
-- dashboard's session key).

CREATE TABLE keys (
	name       TEXT    PRIMARY KEY,
	value      BLOB    NOT NULL,
	created_at INTEGER NOT NULL
);
