DROP INDEX users_index_version;
ALTER TABLE users DROP COLUMN index_version;
