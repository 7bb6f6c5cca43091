-- Each API client's quota (src/access/quota.rs): a token bucket of `burst` cost units
-- refilled at `rate_per_second`, and at most `max_concurrent` requests in flight.
-- Clients that existed before get the defaults of `clients create`.
ALTER TABLE api_clients ADD COLUMN rate_per_second INTEGER NOT NULL DEFAULT 100 CHECK (rate_per_second > 0);
ALTER TABLE api_clients ADD COLUMN burst INTEGER NOT NULL DEFAULT 200 CHECK (burst > 0);
ALTER TABLE api_clients ADD COLUMN max_concurrent INTEGER NOT NULL DEFAULT 16 CHECK (max_concurrent > 0);
