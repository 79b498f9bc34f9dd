# Sourced by scripts/services (never run alone): the private PostgreSQL: start, stop, status, readiness.
# Uses the helpers and the configuration that scripts/services sets before sourcing it.
# shellcheck shell=bash

# ---------------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------------
# Every role logs in with its scram-sha-256 password, over TCP and the socket alike: no trust, no peer.
# The admin role (flashsale, the owner) gets its password from initdb; the platform's roles from
# pg_set_passwords, at every start (the migrations create them without one, so they cannot log in).
PG_CONNINFO="host=127.0.0.1 port=$PG_PORT user=flashsale connect_timeout=3"
PG_ROLES=(flashsale_writer:pg-writer flashsale_gateway:pg-gateway)

pg_psql() {   # pg_psql DB SQL|- (- reads the statements from stdin)
  if [ "$2" = - ]; then
    PGPASSFILE=$SECRETS/pgpass psql -X -q -v ON_ERROR_STOP=1 -tA "$PG_CONNINFO dbname=$1"
  else
    PGPASSFILE=$SECRETS/pgpass psql -X -q -v ON_ERROR_STOP=1 -tA "$PG_CONNINFO dbname=$1" -c "$2"
  fi
}

# secrets/pgpass: a line per role, for psql, pgbench and the scripts (PGPASSFILE).
pg_write_pgpass() {
  local r pw lines
  pw=$(secret pg-admin)
  lines="127.0.0.1:$PG_PORT:*:flashsale:$pw"
  for r in "${PG_ROLES[@]}"; do
    pw=$(secret "${r#*:}")
    lines+=$'\n'"127.0.0.1:$PG_PORT:*:${r%%:*}:$pw"
  done
  (umask 077; printf '%s\n' "$lines" >"$SECRETS/pgpass.tmp" && mv -f "$SECRETS/pgpass.tmp" "$SECRETS/pgpass")
}

# The platform's roles (created here when the migrations have not yet) get the passwords of their files.
# The statements go through stdin, so no password shows on a command line, and the server is told not
# to log them even when one fails; what psql says is shown with the passwords blanked out.
pg_set_passwords() {
  local r role pw sql out
  sql="SET log_statement = 'none'; SET log_min_error_statement = panic;"
  for r in "${PG_ROLES[@]}"; do
    role=${r%%:*}
    pw=$(secret "${r#*:}")
    sql+=$'\n'"DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN"
    sql+=" CREATE ROLE $role LOGIN; END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$;"
    sql+=$'\n'"ALTER ROLE $role LOGIN PASSWORD '$pw';"
  done
  if ! out=$(printf '%s\n' "$sql" | pg_psql postgres - 2>&1); then
    sed "s/PASSWORD '[^']*'/PASSWORD '...'/g" <<<"$out" >&2
    return 1
  fi
}
pg_answers() { [ "$(pg_psql flashsale 'select 1' 2>/dev/null)" = 1 ]; }

pg_running() {   # pg_running DATADIR (not pg_ctl status: that takes a zombie postmaster for a live one)
  local pid
  pid=$(head -n1 "$1/postmaster.pid" 2>/dev/null || true)
  pid_matches "$pid" postgres "$1"
}

pg_start() {
  local t0 dir data logf sockdir
  t0=$(now_ms)
  [ -x "$PG_BIN/initdb" ] || die "pg: $PG_BIN/initdb missing (run scripts/bootstrap)"
  if [ "$IS_ROOT" -eq 1 ]; then id "$PG_USER" >/dev/null 2>&1 || die "pg: system user $PG_USER missing"; fi
  dir=$(service_dir pg "$PG_USER") || return 1
  data=$dir/data; logf=$dir/postgresql.log

  if pg_running "$data"; then
    log "pg: already running (data $data), checking it answers"
  else
    if [ ! -f "$data/PG_VERSION" ]; then
      log "pg: initdb in $data"
      rm -rf "$data"
      local admin_pw; admin_pw=$(secret pg-admin)
      (umask 077; printf '%s\n' "$admin_pw" >"$dir/pwfile"); own "$PG_USER" "$dir/pwfile"
      if ! as_user "$PG_USER" "$PG_BIN/initdb" -D "$data" --username=flashsale --pwfile="$dir/pwfile" \
            --auth=scram-sha-256 --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
        rm -f "$dir/pwfile"; log_tail "$dir/initdb.log"; die "pg: initdb failed"
      fi
      rm -f "$dir/pwfile"
      echo "include_if_exists = 'flashsale.conf'" >>"$data/postgresql.conf"
    fi
    # Unix socket next to the data (108-byte sun_path limit: fall back to the private /tmp directory).
    sockdir=$data
    if [ $(( ${#sockdir} + 20 )) -gt 100 ]; then
      sockdir=$PRIV_BASE/pgsock
      private_base
      mkdir -p "$sockdir"; chmod 700 "$sockdir"; own "$PG_USER" "$sockdir"
    fi
    cat >"$data/flashsale.conf" <<EOF
# written by scripts/services at every start
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sockdir'
max_connections = 200
shared_buffers = 256MB
fsync = on
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    cat >"$data/pg_hba.conf" <<EOF
# written by scripts/services at every start: every role logs in with its scram-sha-256 password
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
EOF
    own "$PG_USER" "$data/flashsale.conf" "$data/pg_hba.conf"
    if port_open "$PG_PORT"; then die "pg: port $PG_PORT is already in use by another process"; fi
    # A postmaster killed with SIGKILL stays a zombie until init reaps it (~1-2 s on this machine), and
    # postgres refuses a lock file whose pid still exists: wait for it.
    local old zdeadline=$(( $(date +%s) + 15 ))
    old=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
    if [[ $old =~ ^[0-9]+$ ]]; then
      while [ "$(sed 's/^.*) //; s/ .*//' "/proc/$old/stat" 2>/dev/null)" = Z ] &&
            [ "$(date +%s)" -lt "$zdeadline" ]; do sleep 0.2; done
    fi
    if ! as_user "$PG_USER" "$PG_BIN/pg_ctl" start -D "$data" -l "$logf" -w -t "$PG_DEADLINE" \
          </dev/null >"$dir/pg_ctl.out" 2>&1 9>&-; then
      cat "$dir/pg_ctl.out" >&2; log_tail "$logf"; die "pg: pg_ctl start failed"
    fi
  fi

  # Readiness: a real query over TCP with the password, within the deadline; the database is created once.
  pg_write_pgpass
  local deadline=$(( $(date +%s) + PG_DEADLINE )) n err
  until n=$(pg_psql postgres "select count(*) from pg_database where datname = 'flashsale'" 2>&1); do
    if [[ $n == *"password authentication failed"* ]]; then
      die "pg: the data in $data has another admin password than $SECRETS/pg-admin.password (made before the
           password files were?): '$PROG wipe' starts it afresh (and loses its data)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      printf '%s\n' "$n" >&2; log_tail "$logf"; die "pg: no answer on 127.0.0.1:$PG_PORT within $PG_DEADLINE s"
    fi
    sleep 0.2
  done
  if [ "$n" = 0 ]; then
    log "pg: creating database flashsale"
    err=$(pg_psql postgres 'create database flashsale owner flashsale' 2>&1) || warn "pg: create database: $err"
  fi
  until pg_answers; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      pg_psql flashsale 'select 1' >&2 || true
      log_tail "$logf"; die "pg: no answer to 'select 1' on database flashsale within $PG_DEADLINE s"
    fi
    sleep 0.2
  done
  pg_set_passwords || die "pg: cannot set the passwords of the platform's roles (above)"
  log "pg: ready at 127.0.0.1:$PG_PORT db=flashsale user=flashsale (data $data) in $(fmt_secs $(( $(now_ms) - t0 )))"
}

pg_stop() {
  local dir data pid
  dir=$(existing_dir pg)
  data=$dir/data
  if [ -z "$dir" ] || [ ! -f "$data/postmaster.pid" ]; then log "pg: not running"; return 0; fi
  pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
  if ! pg_running "$data"; then
    log "pg: not running (stale postmaster.pid)"; return 0
  fi
  local t0; t0=$(now_ms)
  if ! as_user "$PG_USER" "$PG_BIN/pg_ctl" stop -D "$data" -m fast -w -t "$STOP_DEADLINE" >/dev/null 2>&1; then
    warn "pg: pg_ctl stop failed or timed out"
  fi
  wait_gone_or_kill "$pid" 10 "postgres" || die "pg: postmaster $pid survived SIGKILL"
  log "pg: stopped in $(fmt_secs $(( $(now_ms) - t0 )))"
}

pg_status() {
  local dir; dir=$(existing_dir pg)
  if [ -n "$dir" ] && pg_running "$dir/data"; then
    if pg_answers; then echo "running   127.0.0.1:$PG_PORT"; return 0; fi
    echo "unhealthy (postmaster up, 'select 1' fails)"; return 1
  fi
  echo "stopped"; return 1
}
