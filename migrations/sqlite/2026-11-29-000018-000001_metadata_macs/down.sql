ALTER TABLE statement_links DROP COLUMN max_downloads;
ALTER TABLE statement_links DROP COLUMN mac;
ALTER TABLE api_clients DROP COLUMN mac;
