-- Keys generated once and shared by every replica (the dashboard's session
-- key).

CREATE TABLE keys (
	name       TEXT   PRIMARY KEY,
	value      BYTEA  NOT NULL,
	created_at BIGINT NOT NULL
);
