-- The master key floor as a wrap reads it (src/db/wrap_floor.rs), in one round trip:
-- takes the floor's advisory lock in shared mode until the transaction ends (a raise
-- and a retirement take it exclusively), then reads the floor. A VOLATILE function
-- takes a fresh snapshot for each statement it runs, so under READ COMMITTED the read
-- sees every raise committed before the lock was granted, as a statement of its own
-- after the lock would. The lock's key is "piivault" in ASCII.
CREATE FUNCTION piivault_wrap_floor() RETURNS INTEGER
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    floor INTEGER;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(8100121361964690548);
    SELECT min_wrap_version INTO STRICT floor FROM master_key_floor WHERE id = 1;
    RETURN floor;
END
$$;
