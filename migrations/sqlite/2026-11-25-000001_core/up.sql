-- Every personal value is a sealed field (blob); only ids, timestamps, blind
-- indexes and key metadata are stored in the clear.
CREATE TABLE users (
    id                BLOB PRIMARY KEY CHECK (length(id) = 16),
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    email_index       BLOB NOT NULL UNIQUE,
    phone_index       BLOB,
    national_id_index BLOB,
    first_name        BLOB NOT NULL,
    last_name         BLOB NOT NULL,
    email             BLOB NOT NULL,
    phone             BLOB,
    national_id       BLOB,
    date_of_birth     BLOB,
    address           BLOB
);
CREATE INDEX users_phone_index ON users (phone_index);
CREATE INDEX users_national_id_index ON users (national_id_index);

-- One wrapped data key per user; deleting it crypto-shreds the user.
CREATE TABLE data_keys (
    user_id     BLOB PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    kek_version INTEGER NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX data_keys_kek_version ON data_keys (kek_version);

-- API clients: only the SHA-256 of each bearer token is kept.
CREATE TABLE api_clients (
    id         BLOB PRIMARY KEY CHECK (length(id) = 16),
    name       TEXT NOT NULL UNIQUE,
    token_hash BLOB NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
