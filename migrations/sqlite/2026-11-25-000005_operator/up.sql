-- Audit log: one append-only record per read of personal data. It names who read
-- (client), what (action), whose data (subject user, when one user) and when, and
-- never holds the data itself.
CREATE TABLE audit_log (
    id              BLOB PRIMARY KEY CHECK (length(id) = 16),
    at              TIMESTAMP NOT NULL,
    request_id      TEXT NOT NULL,
    client_id       BLOB NOT NULL,
    client_name     TEXT NOT NULL,
    action          TEXT NOT NULL,
    subject_user_id BLOB,
    users_read      BIGINT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_subject ON audit_log (subject_user_id);
CREATE INDEX audit_log_client ON audit_log (client_id);

-- Append-only: the database itself refuses to change or remove a record.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
