-- The master key floor (src/db/wrap_floor.rs): the lowest master key version under
-- which a data key may still be wrapped. Every transaction that stores a wrapped key
-- reads this one row FOR SHARE and refuses a key below it; raising it (a rotation, a
-- rewrap) and retiring a version take it FOR UPDATE, so neither passes a wrap that is
-- committing. Version 1 is the lowest there is: nothing is refused until the first
-- rotation.
CREATE TABLE master_key_floor (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    min_wrap_version INTEGER NOT NULL CHECK (min_wrap_version >= 1),
    raised_at        TIMESTAMP NOT NULL
);
INSERT INTO master_key_floor (id, min_wrap_version, raised_at)
VALUES (1, 1, CURRENT_TIMESTAMP AT TIME ZONE 'UTC');

-- When each master key version was made, as recorded by `piivault keys rotate-master`
-- and `migrate-master`: `keys status` reports the age of the oldest version still in
-- use (a version made before this table, or by `keys init`, has no row; its age is
-- then counted from the oldest data key it wraps).
CREATE TABLE master_key_versions (
    version    INTEGER PRIMARY KEY CHECK (version >= 1),
    created_at TIMESTAMP NOT NULL
);
