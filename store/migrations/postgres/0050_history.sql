-- The build history at scale (issue 17): a project's builds newest first
-- (the API's ?project=, the dashboard's projects page, retention's newest
-- builds per project) and a project's builds of one status, read from an
-- index in ID order rather than sorted from every build of the project.
-- builds_project_id also holds what the projects page groups by (ref,
-- trigger, schedule), so that choosing the newest build per ref among a
-- project's last 500 never reads the table.
CREATE INDEX builds_project_id     ON builds (project, id, ref, trigger_kind, schedule);
CREATE INDEX builds_project_status ON builds (project, status, id);
