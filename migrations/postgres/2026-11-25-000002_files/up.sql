-- Each user's files. The content lives sealed in the object store under a random
-- object name; the row holds the sealed file name and content type, the plaintext size
-- (which the object's length reveals anyway) and where the object is.
CREATE TABLE files (
    id           BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
    user_id      BYTEA NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    object_name  TEXT NOT NULL UNIQUE,
    size         BIGINT NOT NULL CHECK (size >= 0),
    name         BYTEA NOT NULL,
    content_type BYTEA NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX files_user_id ON files (user_id, created_at);
