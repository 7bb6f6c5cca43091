-- Every personal value is a sealed field (bytea); only ids, timestamps, blind
-- indexes and key metadata are stored in the clear.
CREATE TABLE users (
    id                BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    email_index       BYTEA NOT NULL UNIQUE,
    phone_index       BYTEA,
    national_id_index BYTEA,
    first_name        BYTEA NOT NULL,
    last_name         BYTEA NOT NULL,
    email             BYTEA NOT NULL,
    phone             BYTEA,
    national_id       BYTEA,
    date_of_birth     BYTEA,
    address           BYTEA
);
CREATE INDEX users_phone_index ON users (phone_index);
CREATE INDEX users_national_id_index ON users (national_id_index);

-- One wrapped data key per user; deleting it crypto-shreds the user.
CREATE TABLE data_keys (
    user_id     BYTEA PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    kek_version INTEGER NOT NULL,
    wrapped_key BYTEA NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX data_keys_kek_version ON data_keys (kek_version);

-- API clients: only the SHA-256 of each bearer token is kept.
CREATE TABLE api_clients (
    id         BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
    name       TEXT NOT NULL UNIQUE,
    token_hash BYTEA NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
