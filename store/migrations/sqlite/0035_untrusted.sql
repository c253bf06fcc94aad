-- A pull request from a fork, built untrusted (build result untrusted):
-- without secrets, ssh, secret build args or hooks.

ALTER TABLE builds ADD COLUMN untrusted INTEGER NOT NULL DEFAULT 0;
