-- Authenticated metadata (src/crypto/metadata_key.rs, docs/formats.md): each row
-- that decides access carries a MAC under the metadata key, which the database never
-- holds. NULL: written before this version; such a row is refused until
-- `piivault keys seal-metadata` upgrades its token digest and seals it.
ALTER TABLE api_clients ADD COLUMN mac BYTEA;
ALTER TABLE statement_links ADD COLUMN mac BYTEA;
-- The download limit a link was made with (sealed), apart from the running count
-- downloads_left (not sealed: it changes with every download). Older links get the
-- count they have left.
ALTER TABLE statement_links ADD COLUMN max_downloads INTEGER CHECK (max_downloads >= 1);
UPDATE statement_links SET max_downloads = downloads_left WHERE downloads_left > 0;
