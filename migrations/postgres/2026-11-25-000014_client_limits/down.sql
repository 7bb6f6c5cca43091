ALTER TABLE api_clients
    DROP COLUMN rate_per_second,
    DROP COLUMN burst,
    DROP COLUMN max_concurrent;
