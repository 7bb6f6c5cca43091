-- A separate key store (`--keystore-url`) holds only the wrapped data keys, so that
-- backups of the data database never hold the keys that open it. Same columns as
-- the main database's data_keys, without the foreign key: users live elsewhere.
CREATE TABLE data_keys (
    user_id     BLOB PRIMARY KEY CHECK (length(user_id) = 16),
    kek_version INTEGER NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX data_keys_kek_version ON data_keys (kek_version);
