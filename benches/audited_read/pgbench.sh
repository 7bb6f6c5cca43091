#!/usr/bin/env bash
# The database's share of GET /users/{id}, without the service: pgbench runs the
# read's SQL against a throw-away PostgreSQL with piivault's schema and 300 fake users
# (random bytes where sealed fields would be), 8 clients, prepared statements, 10 s:
#   three   token check, user with key, audit insert (three statements)
#   two     token check, then read-and-record in one statement
#   one     everything in one statement (what src/db/audited_read.rs sends)
#   unaudited  token check and read only (no audit record; for comparison)
# ('users:' || 'read': pgbench would take a literal ':read' for one of its variables.)
# Usage: benches/audited_read/pgbench.sh. Needs the PostgreSQL server binaries.
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/lib/postgres.sh
out=benches/audited_read/out
rm -rf "$out" && mkdir -p "$out"
start_postgres "$(pwd)/$out/pg"
trap stop_postgres EXIT
psql=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c 'CREATE DATABASE bench'
for migration in migrations/postgres/*/up.sql; do "${psql[@]}" -d bench -f "$migration"; done
"${psql[@]}" -d bench <<'SQL'
INSERT INTO users (id, created_at, updated_at, email_index, first_name, last_name, email,
                   phone, national_id, date_of_birth, address)
SELECT decode(lpad(to_hex(n), 32, '0'), 'hex'), now(), now(), decode(md5(n::text), 'hex'),
       f, f, f, f, f, f, f
FROM generate_series(1, 300) n, LATERAL (SELECT decode(repeat(md5(n::text), 3), 'hex') AS f) x;
INSERT INTO data_keys SELECT id, 1, decode(repeat('ab', 60), 'hex'), now() FROM users;
INSERT INTO api_clients VALUES (decode(repeat('cd', 16), 'hex'), 'bench',
  decode(repeat('ef', 32), 'hex'), 'users:write,users:read', now(), NULL);
SQL

token="decode(repeat('ef', 32), 'hex')"
user="decode(lpad(to_hex(:n::int), 32, '0'), 'hex')"
columns="u.id, u.created_at, u.updated_at, u.first_name, u.last_name, u.email, u.phone,
  u.national_id, u.date_of_birth, u.address, k.wrapped_key"
check="SELECT id, name, scopes FROM api_clients WHERE token_hash = $token AND revoked_at IS NULL LIMIT 1;"
read="SELECT $columns FROM users u JOIN data_keys k ON k.user_id = u.id WHERE u.id = $user LIMIT 1;"
stamp="uuid_send(gen_random_uuid()), now(), 'req-0123456789'"
cat > "$out/three.sql" <<SQL
\set n random(1, 300)
$check
$read
INSERT INTO audit_log VALUES ($stamp, decode(repeat('cd', 16), 'hex'), 'bench', 'user.read', $user, 1);
SQL
cat > "$out/two.sql" <<SQL
\set n random(1, 300)
$check
WITH found AS (SELECT $columns FROM users u JOIN data_keys k ON k.user_id = u.id WHERE u.id = $user),
recorded AS (INSERT INTO audit_log SELECT $stamp, decode(repeat('cd', 16), 'hex'), 'bench',
  'user.read', found.id, 1 FROM found) SELECT * FROM found;
SQL
cat > "$out/one.sql" <<SQL
\set n random(1, 300)
WITH caller AS (SELECT id, name, scopes FROM api_clients WHERE token_hash = $token AND revoked_at IS NULL),
found AS (SELECT $columns FROM users u JOIN data_keys k ON k.user_id = u.id WHERE u.id = $user
  AND EXISTS (SELECT 1 FROM caller WHERE 'users:' || 'read' = ANY (string_to_array(caller.scopes, ',')))),
recorded AS (INSERT INTO audit_log SELECT $stamp, caller.id, caller.name, 'user.read', found.id, 1
  FROM caller, found)
SELECT * FROM caller LEFT JOIN found ON true;
SQL
cat > "$out/unaudited.sql" <<SQL
\set n random(1, 300)
$check
$read
SQL
for script in three two one unaudited; do
  echo "== $script"
  pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c 8 -j 2 -T 10 \
    -f "$out/$script.sql" bench 2>&1 | grep -E '^(tps|latency average)'
done
