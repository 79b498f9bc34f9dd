# Sourced by scripts/services (never run alone): the private PostgreSQL: start, stop, status, readiness.
# Uses the helpers and the configuration that scripts/services sets before sourcing it.
# shellcheck shell=bash

# ---------------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------------
# Every role logs in with its scram-sha-256 password, over TCP and the socket alike: no trust, no peer.
# The admin role (flashsale, the owner) gets its password from initdb; the platform's roles from
# pg_set_passwords, at every start (the migrations create them without one, so they cannot log in).
# Replicated: the standby logs in to the primary as flashsale_replicator (REPLICATION, nothing else), and
# the primary waits for the standby at each commit (synchronous_standby_names, set by pg_require_sync once
# the standby streams). The services' own statements never wait for it (synchronous_commit = local), so
# that a primary whose standby is down still starts. pg_promote_standby turns the standby into the
# primary and retires the old primary's directory: it must not come back as a second primary.
PG_ROLES=(flashsale_writer:pg-writer: flashsale_gateway:pg-gateway:)   # role:account:attributes
[ "$PROFILE" != replicated ] || PG_ROLES+=(flashsale_replicator:pg-replicator:REPLICATION)
PG_PRIMARY_PORT=$PG_PORT

# pg_select MEMBER (pg: the primary; pg-standby: the replicated profile's standby)
pg_select() {
  PG_MEMBER=$1
  if [ "$1" = pg-standby ]; then PG_PORT=$((PORT_BASE + 1)); else PG_PORT=$PG_PRIMARY_PORT; fi
  PG_CONNINFO="host=127.0.0.1 port=$PG_PORT user=flashsale connect_timeout=3"
}
pg_select pg

# every server address: host:port[,host:port...] (the primary first)
pg_hosts() {
  if [ "$PROFILE" = replicated ]; then echo "$ADDR:$PG_PRIMARY_PORT,$ADDR:$((PORT_BASE + 1))"
  else echo "$ADDR:$PG_PRIMARY_PORT"; fi
}

pg_psql() {   # pg_psql DB SQL|- (- reads the statements from stdin)
  if [ "$2" = - ]; then
    PGOPTIONS='-c synchronous_commit=local' PGPASSFILE=$SECRETS/pgpass \
      psql -X -q -v ON_ERROR_STOP=1 -tA "$PG_CONNINFO dbname=$1"
  else
    PGOPTIONS='-c synchronous_commit=local' PGPASSFILE=$SECRETS/pgpass \
      psql -X -q -v ON_ERROR_STOP=1 -tA "$PG_CONNINFO dbname=$1" -c "$2"
  fi
}

# secrets/pgpass: a line per role, for psql, pgbench and the scripts (PGPASSFILE); any port, so that it
# serves the standby too.
pg_write_pgpass() {
  local r role account pw lines
  pw=$(secret pg-admin)
  lines="127.0.0.1:*:*:flashsale:$pw"
  ! extra_address || lines+=$'\n'"$ADDR:*:*:flashsale:$pw"
  for r in "${PG_ROLES[@]}"; do
    IFS=: read -r role account _ <<<"$r"
    pw=$(secret "$account")
    lines+=$'\n'"127.0.0.1:*:*:$role:$pw"
    ! extra_address || lines+=$'\n'"$ADDR:*:*:$role:$pw"
  done
  (umask 077; printf '%s\n' "$lines" >"$SECRETS/pgpass.tmp" && mv -f "$SECRETS/pgpass.tmp" "$SECRETS/pgpass")
}

# The platform's roles (created here when the migrations have not yet) get the passwords of their files.
# The statements go through stdin, so no password shows on a command line, and the server is told not
# to log them even when one fails; what psql says is shown with the passwords blanked out.
pg_set_passwords() {
  local r role account attrs pw sql out
  sql="SET log_statement = 'none'; SET log_min_error_statement = panic;"
  for r in "${PG_ROLES[@]}"; do
    IFS=: read -r role account attrs <<<"$r"
    pw=$(secret "$account")
    sql+=$'\n'"DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN"
    sql+=" CREATE ROLE $role LOGIN; END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$;"
    sql+=$'\n'"ALTER ROLE $role LOGIN $attrs PASSWORD '$pw';"
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

# Writes the settings and the client rules of a data directory (at every start).
pg_write_config() {   # pg_write_config DATA
  local data=$1 sockdir replication="" standby=""
  # Unix socket next to the data (108-byte sun_path limit: fall back to the private /tmp directory).
  sockdir=$data
  if [ $(( ${#sockdir} + 20 )) -gt 100 ]; then
    sockdir=$PRIV_BASE/pgsock-$PG_MEMBER
    private_base
    mkdir -p "$sockdir"; chmod 700 "$sockdir"; own "$PG_USER" "$sockdir"
  fi
  if [ "$PROFILE" = replicated ]; then
    replication="host    replication  flashsale_replicator  127.0.0.1/32  scram-sha-256"
    standby="wal_keep_size = 1GB
primary_conninfo = 'host=127.0.0.1 port=$PG_PRIMARY_PORT user=flashsale_replicator passfile=$(dirname "$data")/replication.pgpass application_name=standby connect_timeout=3'"
  fi
  cat >"$data/flashsale.conf" <<EOF
# written by scripts/services at every start
listen_addresses = '127.0.0.1$(if extra_address; then echo ",$ADDR"; fi)'
port = $PG_PORT
unix_socket_directories = '$sockdir'
max_connections = 200
shared_buffers = $([ "$PROFILE" = replicated ] && echo 128MB || echo 256MB)
fsync = on
log_line_prefix = '%m [%p] %q%u@%d '
$standby
EOF
  cat >"$data/pg_hba.conf" <<EOF
# written by scripts/services at every start: every role logs in with its scram-sha-256 password
# TYPE  DATABASE     USER                  ADDRESS       METHOD
local   all          all                                 scram-sha-256
host    all          all                   127.0.0.1/32  scram-sha-256
$(if extra_address; then echo "host    all          all                   samenet       scram-sha-256"; fi)
$replication
EOF
  own "$PG_USER" "$data/flashsale.conf" "$data/pg_hba.conf"
}

# pg_ctl start of a data directory whose configuration is written.
pg_ctl_start() {   # pg_ctl_start DIR DATA LOG
  local dir=$1 data=$2 logf=$3
  if port_open "$PG_PORT"; then die "$PG_MEMBER: port $PG_PORT is already in use by another process"; fi
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
    cat "$dir/pg_ctl.out" >&2; log_tail "$logf"; die "$PG_MEMBER: pg_ctl start failed"
  fi
}

pg_start() {
  local t0 dir data logf
  t0=$(now_ms)
  [ -x "$PG_BIN/initdb" ] || die "pg: $PG_BIN/initdb missing (run scripts/bootstrap)"
  if [ "$IS_ROOT" -eq 1 ]; then id "$PG_USER" >/dev/null 2>&1 || die "pg: system user $PG_USER missing"; fi
  dir=$(service_dir pg "$PG_USER") || return 1
  data=$dir/data; logf=$dir/postgresql.log
  [ ! -e "$dir/retired" ] ||
    die "pg: this primary was replaced by 'promote-standby' (pg-standby is the primary now) and must not
         come back as a second one; '$PROG --replicated wipe' starts the profile afresh"

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
    pg_write_config "$data"
    pg_ctl_start "$dir" "$data" "$logf"
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
  dir=$(existing_dir "$PG_MEMBER")
  data=$dir/data
  if [ -z "$dir" ] || [ ! -f "$data/postmaster.pid" ]; then log "$PG_MEMBER: not running"; return 0; fi
  pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null || true)
  if ! pg_running "$data"; then
    log "$PG_MEMBER: not running (stale postmaster.pid)"; return 0
  fi
  local t0; t0=$(now_ms)
  if ! as_user "$PG_USER" "$PG_BIN/pg_ctl" stop -D "$data" -m fast -w -t "$STOP_DEADLINE" >/dev/null 2>&1; then
    warn "$PG_MEMBER: pg_ctl stop failed or timed out"
  fi
  wait_gone_or_kill "$pid" 10 "postgres" || die "$PG_MEMBER: postmaster $pid survived SIGKILL"
  log "$PG_MEMBER: stopped in $(fmt_secs $(( $(now_ms) - t0 )))"
}

pg_kill() {   # SIGKILL to the postmaster, as a crash of the host would (fault tests)
  local dir pid
  dir=$(existing_dir "$PG_MEMBER")
  pid=$(head -n1 "$dir/data/postmaster.pid" 2>/dev/null || true)
  [ -n "$dir" ] && pg_running "$dir/data" || die "$PG_MEMBER: not running"
  # the postmaster and its children at once, as a crash leaves none of them behind
  kill -KILL "$pid" $(pgrep -P "$pid") 2>/dev/null || true
  wait_gone_or_kill "$pid" 10 "postgres" || die "$PG_MEMBER: postmaster $pid survived SIGKILL"
  log "$PG_MEMBER: killed (SIGKILL to postmaster $pid)"
}

# 't' on a standby, 'f' on a primary
pg_in_recovery() { pg_psql postgres 'select pg_is_in_recovery()' 2>/dev/null; }

pg_status() {
  local dir role; dir=$(existing_dir "$PG_MEMBER")
  if [ -n "$dir" ] && pg_running "$dir/data"; then
    if pg_answers; then
      role=primary; [ "$(pg_in_recovery)" != t ] || role=standby
      echo "running   127.0.0.1:$PG_PORT $role"; return 0
    fi
    echo "unhealthy (postmaster up, 'select 1' fails)"; return 1
  fi
  echo "stopped"; return 1
}

# Replicated: the standby, made by a base backup of the running primary the first time; ready when it
# answers as a standby (or, after promote-standby, as the primary).
pg_standby_start() {
  local t0 dir data logf pw
  t0=$(now_ms)
  dir=$(service_dir pg-standby "$PG_USER") || return 1
  data=$dir/data; logf=$dir/postgresql.log
  pw=$(secret pg-replicator)
  (umask 077; printf '127.0.0.1:*:replication:flashsale_replicator:%s\n' "$pw" >"$dir/replication.pgpass")
  own "$PG_USER" "$dir/replication.pgpass"
  if pg_running "$data"; then
    log "pg-standby: already running (data $data), checking it answers"
  else
    if [ ! -f "$data/PG_VERSION" ]; then
      log "pg-standby: base backup of the primary (127.0.0.1:$PG_PRIMARY_PORT) into $data"
      rm -rf "$data"
      if ! as_user "$PG_USER" env PGPASSFILE="$dir/replication.pgpass" "$PG_BIN/pg_basebackup" \
            -d "host=127.0.0.1 port=$PG_PRIMARY_PORT user=flashsale_replicator connect_timeout=3" \
            -D "$data" -X stream -c fast >"$dir/basebackup.log" 2>&1; then
        log_tail "$dir/basebackup.log"; rm -rf "$data"; die "pg-standby: pg_basebackup failed"
      fi
      as_user "$PG_USER" touch "$data/standby.signal"
    fi
    pg_write_config "$data"
    pg_ctl_start "$dir" "$data" "$logf"
  fi
  local deadline=$(( $(date +%s) + PG_DEADLINE )) r=""
  until r=$(pg_in_recovery) && [ -n "$r" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { log_tail "$logf"; die "pg-standby: no answer on 127.0.0.1:$PG_PORT within $PG_DEADLINE s"; }
    sleep 0.2
  done
  [ "$r" = t ] && r=standby || r="primary (promoted)"
  log "pg-standby: ready at 127.0.0.1:$PG_PORT as $r (data $data) in $(fmt_secs $(( $(now_ms) - t0 )))"
}

# Replicated: the primary waits for the standby at every commit, and the standby streams in sync.
pg_require_sync() {
  local deadline=$(( $(date +%s) + PG_DEADLINE )) st=""
  pg_select pg
  pg_psql postgres "ALTER SYSTEM SET synchronous_standby_names = 'standby'" >/dev/null &&
    pg_psql postgres 'select pg_reload_conf()' >/dev/null || die "pg: cannot set synchronous_standby_names"
  until st=$(pg_psql postgres "select state || ' ' || sync_state from pg_stat_replication
                                where application_name = 'standby'" 2>/dev/null) && [ "$st" = "streaming sync" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "pg: the standby is not streaming in sync within $PG_DEADLINE s (state: '${st:-none}')"
    sleep 0.2
  done
  log "pg: standby 127.0.0.1:$((PORT_BASE + 1)) streaming, sync_state sync"
}

# The operator's failover: the standby becomes the primary. Refused while the primary runs (two primaries
# would each take orders); the old primary's directory is marked retired (pg_start refuses it).
pg_promote_standby() {
  local pdir sdir deadline
  pdir=$(existing_dir pg); sdir=$(existing_dir pg-standby)
  [ -n "$sdir" ] || die "pg-standby: never started"
  if [ -n "$pdir" ] && pg_running "$pdir/data"; then
    die "pg: the primary still runs: stop it first ('$PROG --replicated stop-one pg' or kill-one pg)"
  fi
  pg_select pg-standby
  pg_running "$sdir/data" || die "pg-standby: not running"
  [ "$(pg_in_recovery)" = t ] || die "pg-standby: already a primary"
  as_user "$PG_USER" "$PG_BIN/pg_ctl" promote -D "$sdir/data" -w -t "$PG_DEADLINE" >/dev/null 2>&1 ||
    die "pg-standby: pg_ctl promote failed"
  [ -z "$pdir" ] || touch "$pdir/retired"
  deadline=$(( $(date +%s) + PG_DEADLINE ))
  until [ "$(pg_in_recovery)" = f ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "pg-standby: still in recovery $PG_DEADLINE s after promote"
    sleep 0.2
  done
  # It has no standby of its own: a synchronous_standby_names copied by its base backup would make every
  # commit wait forever.
  pg_psql postgres 'ALTER SYSTEM RESET synchronous_standby_names' >/dev/null &&
    pg_psql postgres 'select pg_reload_conf()' >/dev/null ||
    die "pg-standby: promoted, but cannot reset synchronous_standby_names"
  log "pg-standby: promoted, the primary at 127.0.0.1:$PG_PORT, without a standby (the old primary is retired)"
}
