ALTER TABLE api_clients DROP COLUMN max_concurrent;
ALTER TABLE api_clients DROP COLUMN burst;
ALTER TABLE api_clients DROP COLUMN rate_per_second;
