# Sourced by the benchmark scripts: a throw-away PostgreSQL cluster, and what the
# scripts measure around it.
#
# start_postgres DIR   initdb and start a cluster under DIR on a free loopback port,
#                      as the `postgres` user when run as root (PostgreSQL refuses
#                      root), fsync from $FSYNC: `on` by default, as production runs;
#                      FSYNC=off only for a second, labelled row. Sets PG_PORT.
# stop_postgres        stops it (safe to call twice, e.g. from a trap).
# pg_counters DB       one line of cumulative counters of the cluster, for the
#                      difference across a run: commits in DB, WAL flushes (fsyncs),
#                      milliseconds spent in them, checkpoints.
# cluster_pids         the cluster's processes: the postmaster and its children.
# cpu_ms PID...        CPU time (user + system, all threads, and ended children)
#                      the processes have used so far, in ms (for a difference
#                      across a run).
# free_port            a free loopback TCP port (for a service the script starts).

start_postgres() {
  PG_DIR=$1
  PG_BINDIR=$(pg_config --bindir)
  PG_PORT=$(free_port)
  mkdir -p "$PG_DIR"
  local socket_dir
  socket_dir=$(cd "$PG_DIR" && pwd)
  PG_AS=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; PG_AS=(runuser -u postgres --); fi
  "${PG_AS[@]}" "$PG_BINDIR/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync >/dev/null
  # track_wal_io_timing: pg_stat_wal then says how long the WAL flushes took.
  "${PG_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$socket_dir -c fsync=${FSYNC:-on} -c max_connections=200 -c shared_buffers=256MB -c track_wal_io_timing=on -c log_checkpoints=on -c log_autovacuum_min_duration=0" \
    start >/dev/null
}

stop_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
}

pg_counters() {
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -XAtF ' ' -c \
    "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
            wal_sync, round(wal_sync_time), checkpoints_timed + checkpoints_req
     FROM pg_stat_wal, pg_stat_bgwriter"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cpu_ms() {
  python3 - "$@" <<'PY'
import os, sys
ticks = 0
for pid in sys.argv[1:]:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        # utime, stime, and those of children waited for (a backend that ended)
        ticks += sum(int(field) for field in fields[11:15])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        pass
print(ticks * 1000 // os.sysconf("SC_CLK_TCK"))
PY
}

cluster_pids() {
  if [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    local postmaster
    postmaster=$(head -1 "$PG_DIR/data/postmaster.pid")
    echo "$postmaster" $(pgrep -P "$postmaster")
  fi
}

