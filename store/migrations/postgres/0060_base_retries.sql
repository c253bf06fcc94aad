-- Base image rebuild retries: when a project's rebuild on a new base
-- digest failed, the watcher queues it again, at most once per project per
-- interval. retry_at is when the next one may be queued; a replica claims
-- it (compare and set, as base_checks.next_at) before queueing, so that
-- replicas sharing the database queue each retry once.

CREATE TABLE base_retries (
	project  TEXT   PRIMARY KEY,
	retry_at BIGINT NOT NULL
);
