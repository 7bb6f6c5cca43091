-- How many more times a statement link may be downloaded (src/vault/statement_links.rs):
-- NULL until it expires, else taken down by one, atomically, as a download starts; a
-- link at 0 answers 404 like an expired one. Links made before this had no limit:
-- those of policies other than national_id get the new default of one download.
ALTER TABLE statement_links ADD COLUMN downloads_left INTEGER CHECK (downloads_left >= 0);
UPDATE statement_links SET downloads_left = 1 WHERE policy <> 'national_id';
