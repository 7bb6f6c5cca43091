ALTER TABLE statement_links DROP COLUMN downloads_left;
