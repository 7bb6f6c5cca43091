-- Audit log: one append-only record per read of personal data. It names who read
-- (client), what (action), whose data (subject user, when one user) and when, and
-- never holds the data itself.
CREATE TABLE audit_log (
    id              BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
    at              TIMESTAMP NOT NULL,
    request_id      TEXT NOT NULL,
    client_id       BYTEA NOT NULL,
    client_name     TEXT NOT NULL,
    action          TEXT NOT NULL,
    subject_user_id BYTEA,
    users_read      BIGINT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_subject ON audit_log (subject_user_id);
CREATE INDEX audit_log_client ON audit_log (client_id);

-- Append-only: the database itself refuses to change or remove a record.
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
