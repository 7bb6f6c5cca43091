-- PostgreSQL reads the master key floor for a wrap through a function that takes its
-- lock (src/db/wrap_floor.rs). SQLite needs neither: every write transaction begins
-- IMMEDIATE, one writer at a time. This keeps both backends' migrations in step.
SELECT 1;
