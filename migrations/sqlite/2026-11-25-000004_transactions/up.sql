-- A user's transactions. Reference, details and amount are sealed under the user's
-- data key; occurred_at and currency stay in the clear so that statements can select
-- a period and a currency in the database. The reference is unique per user through a
-- blind index (HMAC over the user id and the reference), which makes posting
-- idempotent without storing the reference in the clear.
CREATE TABLE transactions (
    id              BLOB PRIMARY KEY CHECK (length(id) = 16),
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reference_index BLOB NOT NULL,
    occurred_at     TIMESTAMP NOT NULL,
    currency        TEXT NOT NULL,
    reference       BLOB NOT NULL,
    details         BLOB NOT NULL,
    amount          BLOB NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    UNIQUE (user_id, reference_index)
);
CREATE INDEX transactions_user_time ON transactions (user_id, occurred_at, id);

-- Statement download links. Only the SHA-256 of the link's secret is stored; the
-- one-time code or generated password that the PDF needs at download time is sealed
-- under the user's data key. Expired links answer 404 and are swept on creation.
CREATE TABLE statement_links (
    id          BLOB PRIMARY KEY CHECK (length(id) = 16),
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BLOB NOT NULL UNIQUE,
    period_from TEXT NOT NULL,
    period_to   TEXT NOT NULL,
    currency    TEXT NOT NULL,
    policy      TEXT NOT NULL,
    secret      BLOB,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX statement_links_expires_at ON statement_links (expires_at);
CREATE INDEX statement_links_user ON statement_links (user_id);
