# Sourced by scripts/services (never run alone): the private RabbitMQ: start, stop, status, readiness.
# Uses the helpers and the configuration that scripts/services sets before sourcing it.
# shellcheck shell=bash

# ---------------------------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------------------------
RABBIT_NODE=flashsale-${RUN_HASH:0:8}@localhost

# Paths depend on where the rabbit directory really is; set by rabbit_paths.
rabbit_paths() {   # rabbit_paths DIR
  RDIR=$1
  RABBIT_PIDFILE=$RDIR/rabbit.pid
  RABBIT_LOG=$RDIR/log/rabbit.log
  RABBIT_ENV=(
    PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 LC_ALL=C.UTF-8
    HOME="$RDIR/home"
    RABBITMQ_NODENAME="$RABBIT_NODE"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    RABBITMQ_NODE_PORT="$AMQP_PORT"
    RABBITMQ_DIST_PORT="$DIST_PORT"
    ERL_EPMD_PORT="$EPMD_PORT"
    ERL_EPMD_ADDRESS=127.0.0.1
    RABBITMQ_MNESIA_BASE="$RDIR/mnesia"
    RABBITMQ_LOG_BASE="$RDIR/log"
    RABBITMQ_LOGS="$RABBIT_LOG"
    RABBITMQ_PID_FILE="$RABBIT_PIDFILE"
    RABBITMQ_ENABLED_PLUGINS_FILE="$RDIR/enabled_plugins"
    RABBITMQ_CONFIG_FILE="$RDIR/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$RDIR/advanced.config"
    RABBITMQ_CONF_ENV_FILE="$RDIR/rabbitmq-env.conf"
  )
}

rabbit_as() { as_user "$RABBIT_USER" env -i "${RABBIT_ENV[@]}" "$@"; }
rabbitmqctl_cmd() { rabbit_as timeout "$RABBIT_DEADLINE" "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBIT_NODE" "$@"; }

# The AMQP 0-9-1 handshake: after the protocol header the server must send Connection.Start, i.e. a method
# frame (type 01) on channel 0 whose payload starts with class 10 (000a), method 10 (000a).
amqp_answers() {
  local out
  out=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$AMQP_PORT && printf 'AMQP\\x00\\x00\\x09\\x01' >&3 &&
        head -c 11 <&3 | od -An -tx1" 2>/dev/null) || return 1
  out=$(tr -s ' \n' '  ' <<<"$out")   # one line, single spaces
  out=${out# }; out=${out% }
  [[ $out == "01 00 00 "?*" 00 0a 00 0a" ]]
}

rabbit_pid() {   # pid of our beam, if it runs
  local pid
  [ -n "${RDIR:-}" ] || return 1
  pid=$(cat "$RABBIT_PIDFILE" 2>/dev/null || true)
  pid_matches "$pid" beam.smp "-home $RDIR/home " && echo "$pid"   # node name is not on the command line
}

epmd_pid() {   # pid of the epmd listening on our port, if any
  local line pid
  line=$(ss -Hltnp "sport = :$EPMD_PORT" 2>/dev/null | head -n1)
  [[ $line =~ pid=([0-9]+) ]] || return 1
  pid=${BASH_REMATCH[1]}
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = epmd ] && echo "$pid"
}

# The platform's vhost and users, from definitions on stdin (no password on a command line), every
# start; guest is deleted. What each user may do (configure / write / read, regular expressions over
# the names in the vhost):
#   flashsale-admin    everything: declares the topology (flashsale-admin amqp declare), inspects queues
#   flashsale-gateway  publish to the order exchange (flashsale), nothing else: it only checks the
#                      topology with passive declares, which need no permission
#   flashsale-writer   consume the order queues: flashsale.<anything> but the dead-letter queues
#                      (flashsale.dead, <queue>.dead; so no hot product may be named "dead" here)
RABBIT_VHOST=flashsale
rabbit_set_accounts() {
  local out admin_pw gateway_pw writer_pw
  admin_pw=$(secret amqp-admin); gateway_pw=$(secret amqp-gateway); writer_pw=$(secret amqp-writer)
  out=$(cat <<EOF | rabbitmqctl_cmd import_definitions 2>&1
{"vhosts": [{"name": "$RABBIT_VHOST"}],
 "users": [
   {"name": "flashsale-admin", "password": "$admin_pw", "tags": "administrator"},
   {"name": "flashsale-gateway", "password": "$gateway_pw", "tags": ""},
   {"name": "flashsale-writer", "password": "$writer_pw", "tags": ""}],
 "permissions": [
   {"user": "flashsale-admin", "vhost": "$RABBIT_VHOST", "configure": ".*", "write": ".*", "read": ".*"},
   {"user": "flashsale-gateway", "vhost": "$RABBIT_VHOST", "configure": "^\$", "write": "^flashsale\$", "read": "^\$"},
   {"user": "flashsale-writer", "vhost": "$RABBIT_VHOST", "configure": "^\$", "write": "^\$",
    "read": "^flashsale\\\\.(?!(.*\\\\.)?dead\$).+\$"}]}
EOF
  ) || die "rabbit: cannot create the vhost and users: $(sed 's/"password": "[^"]*"/"password": "..."/g' <<<"$out")"
  out=$(rabbitmqctl_cmd list_users 2>&1) || die "rabbit: cannot list the users: $out"
  if grep -q '^guest[[:space:]]' <<<"$out"; then
    out=$(rabbitmqctl_cmd delete_user guest 2>&1) || die "rabbit: cannot delete the guest user: $out"
  fi
}

rabbit_start() {
  local t0 dir pid=""
  t0=$(now_ms)
  [ -x "$RABBIT_BIN/rabbitmq-server" ] || die "rabbit: $RABBIT_BIN/rabbitmq-server missing (run scripts/bootstrap)"
  if [ "$IS_ROOT" -eq 1 ]; then id "$RABBIT_USER" >/dev/null 2>&1 || die "rabbit: system user $RABBIT_USER missing"; fi
  dir=$(service_dir rabbit "$RABBIT_USER") || return 1
  rabbit_paths "$dir"
  if pid=$(rabbit_pid); then
    log "rabbit: already running (pid $pid, node $RABBIT_NODE), checking it answers"
  else
    mkdir -p "$RDIR/home" "$RDIR/mnesia" "$RDIR/log"
    if [ ! -s "$RDIR/home/.erlang.cookie" ]; then
      rm -f "$RDIR/home/.erlang.cookie"
      (umask 077; head -c 32 /dev/urandom | sha256sum | cut -c1-40 | tr a-f A-F >"$RDIR/home/.erlang.cookie")
    fi
    chmod 400 "$RDIR/home/.erlang.cookie"
    echo '[].' >"$RDIR/enabled_plugins"
    # Sourced by the rabbitmq scripts, server and CLI alike: Erlang distribution on loopback too.
    cat >"$RDIR/rabbitmq-env.conf" <<'EOF'
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
    cat >"$RDIR/rabbitmq.conf" <<EOF
# written by scripts/services at every start
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
disk_free_limit.absolute = 50MB
EOF
    chmod 700 "$RDIR/home"
    own "$RABBIT_USER" "$RDIR"
    if port_open "$AMQP_PORT"; then die "rabbit: AMQP port $AMQP_PORT is already in use by another process"; fi
    if port_open "$DIST_PORT"; then die "rabbit: distribution port $DIST_PORT is already in use by another process"; fi
    rm -f "$RABBIT_PIDFILE"
    echo "==== $(date '+%F %T') starting $RABBIT_NODE (scripts/services)" >>"$RDIR/log/startup.log"
    own "$RABBIT_USER" "$RDIR/log/startup.log"
    if ! rabbit_as setsid "$RABBIT_BIN/rabbitmq-server" -detached </dev/null >>"$RDIR/log/startup.log" 2>&1 9>&-; then
      log_tail "$RDIR/log/startup.log"; die "rabbit: rabbitmq-server -detached failed"
    fi
  fi
  # 'wait' returns once the rabbit application has booted (or fails when the node dies); a node that
  # already answers AMQP has booted, and skipping the CLI saves ~1.5 s.
  if ! { [ -n "$pid" ] && amqp_answers; } &&
     ! rabbitmqctl_cmd wait --timeout "$RABBIT_DEADLINE" "$RABBIT_PIDFILE" >"$RDIR/log/wait.out" 2>&1; then
    head -n 20 "$RDIR/log/wait.out" >&2
    log_tail "$RDIR/log/startup.log" 15; log_tail "$RABBIT_LOG"
    die "rabbit: node $RABBIT_NODE did not boot ('rabbitmqctl wait' failed or timed out after $RABBIT_DEADLINE s)"
  fi
  local deadline=$(( $(date +%s) + 30 ))
  until amqp_answers; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log_tail "$RABBIT_LOG"; die "rabbit: no AMQP Connection.Start on 127.0.0.1:$AMQP_PORT within 30 s"
    fi
    sleep 0.2
  done
  rabbit_set_accounts
  log "rabbit: ready at amqp://127.0.0.1:$AMQP_PORT/$RABBIT_VHOST node=$RABBIT_NODE (pid $(rabbit_pid), data $RDIR) in $(fmt_secs $(( $(now_ms) - t0 )))"
}

rabbit_stop() {
  local dir pid t0 stopped=0
  dir=$(existing_dir rabbit)
  t0=$(now_ms)
  if [ -n "$dir" ]; then
    rabbit_paths "$dir"
    if pid=$(rabbit_pid); then
      if ! rabbitmqctl_cmd stop "$RABBIT_PIDFILE" >/dev/null 2>&1; then
        warn "rabbit: 'rabbitmqctl stop' failed or timed out"
        kill -TERM "$pid" 2>/dev/null || true
      fi
      wait_gone_or_kill "$pid" "$STOP_DEADLINE" "rabbitmq beam" || die "rabbit: pid $pid survived SIGKILL"
      rm -f "$RABBIT_PIDFILE"
      stopped=1
    fi
  fi
  # Our epmd (started by erl on ERL_EPMD_PORT): ask it to quit, then make sure, by the pid on our port.
  if pid=$(epmd_pid); then
    as_user "$RABBIT_USER" env -i PATH=/usr/bin:/bin ERL_EPMD_PORT="$EPMD_PORT" epmd -port "$EPMD_PORT" -kill \
      >/dev/null 2>&1 || true
    wait_gone_or_kill "$pid" 5 "epmd on port $EPMD_PORT" || die "rabbit: epmd $pid survived SIGKILL"
    stopped=1
  fi
  if [ "$stopped" -eq 1 ]; then log "rabbit: stopped (and its epmd) in $(fmt_secs $(( $(now_ms) - t0 )))"
  else log "rabbit: not running"; fi
}

rabbit_status() {
  local dir; dir=$(existing_dir rabbit)
  if [ -n "$dir" ]; then
    rabbit_paths "$dir"
    if rabbit_pid >/dev/null; then
      if amqp_answers; then echo "running   127.0.0.1:$AMQP_PORT node=$RABBIT_NODE"; return 0; fi
      echo "unhealthy (beam up, no AMQP Connection.Start)"; return 1
    fi
  fi
  echo "stopped"; return 1
}
