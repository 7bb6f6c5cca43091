-- Blind-index key rotation: the key version each user's indexes were computed
-- under. Existing rows were indexed with the single key there was, version 1.
ALTER TABLE users ADD COLUMN index_version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX users_index_version ON users (index_version);
