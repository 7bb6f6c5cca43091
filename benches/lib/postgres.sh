# Sourced by the benchmark scripts: a throw-away PostgreSQL cluster.
#
# start_postgres DIR   initdb and start a cluster under DIR on a free loopback port,
#                      as the `postgres` user when run as root (PostgreSQL refuses
#                      root), fsync from $FSYNC (default off). Sets PG_PORT.
# stop_postgres        stops it (safe to call twice, e.g. from a trap).

start_postgres() {
  PG_DIR=$1
  PG_BINDIR=$(pg_config --bindir)
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$PG_DIR"
  local socket_dir
  socket_dir=$(cd "$PG_DIR" && pwd)
  PG_AS=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; PG_AS=(runuser -u postgres --); fi
  "${PG_AS[@]}" "$PG_BINDIR/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync >/dev/null
  "${PG_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$socket_dir -c fsync=${FSYNC:-off} -c max_connections=200 -c shared_buffers=256MB" \
    start >/dev/null
}

stop_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
}
