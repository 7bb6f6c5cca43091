-- Each user's files. The content lives sealed in the object store under a random
-- object name; the row holds the sealed file name and content type, the plaintext size
-- (which the object's length reveals anyway) and where the object is.
CREATE TABLE files (
    id           BLOB PRIMARY KEY CHECK (length(id) = 16),
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    object_name  TEXT NOT NULL UNIQUE,
    size         BIGINT NOT NULL CHECK (size >= 0),
    name         BLOB NOT NULL,
    content_type BLOB NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX files_user_id ON files (user_id, created_at);
