# Sourced by scripts/services (never run alone): the private RabbitMQ: start, stop, status, readiness.
# Uses the helpers and the configuration that scripts/services sets before sourcing it.
# shellcheck shell=bash

# ---------------------------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------------------------
# rabbit_select MEMBER (rabbit, or rabbit1..rabbit3 of the replicated cluster): the member the functions
# below work on. The nodes of the cluster find each other by their names (classic_config peer discovery)
# through one epmd, and share one Erlang cookie (secrets/rabbit-cookie.password).
rabbit_select() {
  RABBIT_MEMBER=$1; RABBIT_PEERS=()
  if [ "$1" = rabbit ]; then RABBIT_NODE=flashsale-${RUN_HASH:0:8}@localhost; return; fi
  local i=${1#rabbit} j
  RABBIT_NODE=$(rabbit_node_name "$i"); AMQP_PORT=${AMQP_PORTS[i - 1]}; DIST_PORT=$((PORT_BASE + 50 + i))
  for j in 1 2 3; do RABBIT_PEERS+=("$(rabbit_node_name "$j")"); done
}
rabbit_node_name() { echo "fsr$1-${RUN_HASH:0:8}@localhost"; }
# every AMQP address: host:port[,host:port...]
rabbit_hosts() {
  if [ "$PROFILE" = replicated ]; then address_list "${AMQP_PORTS[@]}"; else address_list "$AMQP_PORT"; fi
}

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
  out=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/${1:-$AMQP_PORT} && printf 'AMQP\\x00\\x00\\x09\\x01' >&3 &&
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
  [ -x "$RABBIT_BIN/rabbitmq-server" ] || die "$RABBIT_MEMBER: $RABBIT_BIN/rabbitmq-server missing (run scripts/bootstrap)"
  if [ "$IS_ROOT" -eq 1 ]; then id "$RABBIT_USER" >/dev/null 2>&1 || die "$RABBIT_MEMBER: system user $RABBIT_USER missing"; fi
  dir=$(service_dir "$RABBIT_MEMBER" "$RABBIT_USER") || return 1
  rabbit_paths "$dir"
  if pid=$(rabbit_pid); then
    log "$RABBIT_MEMBER: already running (pid $pid, node $RABBIT_NODE), checking it answers"
  else
    mkdir -p "$RDIR/home" "$RDIR/mnesia" "$RDIR/log"
    if [ ! -s "$RDIR/home/.erlang.cookie" ]; then
      local cookie; cookie=$(secret rabbit-cookie)
      rm -f "$RDIR/home/.erlang.cookie"
      (umask 077; printf '%s' "$cookie" >"$RDIR/home/.erlang.cookie")
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
$(if extra_address; then echo "listeners.tcp.2 = $ADDR:$AMQP_PORT"; fi)
disk_free_limit.absolute = 50MB
$(rabbit_cluster_config)
EOF
    chmod 700 "$RDIR/home"
    own "$RABBIT_USER" "$RDIR"
    if port_open "$AMQP_PORT"; then die "$RABBIT_MEMBER: AMQP port $AMQP_PORT is already in use by another process"; fi
    if port_open "$DIST_PORT"; then die "$RABBIT_MEMBER: distribution port $DIST_PORT is already in use by another process"; fi
    rm -f "$RABBIT_PIDFILE"
    echo "==== $(date '+%F %T') starting $RABBIT_NODE (scripts/services)" >>"$RDIR/log/startup.log"
    own "$RABBIT_USER" "$RDIR/log/startup.log"
    if ! rabbit_as setsid "$RABBIT_BIN/rabbitmq-server" -detached </dev/null >>"$RDIR/log/startup.log" 2>&1 9>&-; then
      log_tail "$RDIR/log/startup.log"; die "$RABBIT_MEMBER: rabbitmq-server -detached failed"
    fi
  fi
  # 'wait' returns once the rabbit application has booted (or fails when the node dies); a node that
  # already answers AMQP has booted, and skipping the CLI saves ~1.5 s.
  if ! { [ -n "$pid" ] && amqp_answers; } &&
     ! rabbitmqctl_cmd wait --timeout "$RABBIT_DEADLINE" "$RABBIT_PIDFILE" >"$RDIR/log/wait.out" 2>&1; then
    head -n 20 "$RDIR/log/wait.out" >&2
    log_tail "$RDIR/log/startup.log" 15; log_tail "$RABBIT_LOG"
    die "$RABBIT_MEMBER: node $RABBIT_NODE did not boot ('rabbitmqctl wait' failed or timed out after $RABBIT_DEADLINE s)"
  fi
  local deadline=$(( $(date +%s) + 30 ))
  until amqp_answers; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log_tail "$RABBIT_LOG"; die "$RABBIT_MEMBER: no AMQP Connection.Start on 127.0.0.1:$AMQP_PORT within 30 s"
    fi
    sleep 0.2
  done
  if [ ${#RABBIT_PEERS[@]} -eq 0 ]; then rabbit_set_accounts; else rabbit_require_joined; fi
  log "$RABBIT_MEMBER: ready at amqp://127.0.0.1:$AMQP_PORT/$RABBIT_VHOST node=$RABBIT_NODE (pid $(rabbit_pid), data $RDIR) in $(fmt_secs $(( $(now_ms) - t0 )))"
}

# The cluster's part of rabbitmq.conf (none for the single node). pause_minority: a node cut off from the
# majority stops serving rather than diverge (what the RabbitMQ documentation advises for 3 nodes).
rabbit_cluster_config() {
  local i
  [ ${#RABBIT_PEERS[@]} -gt 0 ] || return 0
  echo "cluster_formation.peer_discovery_backend = classic_config"
  for i in "${!RABBIT_PEERS[@]}"; do echo "cluster_formation.classic_config.nodes.$((i + 1)) = ${RABBIT_PEERS[i]}"; done
  echo "cluster_partition_handling = pause_minority"
}

# The running nodes of the cluster as this member sees them, one per line.
rabbit_running_nodes() {
  rabbitmqctl_cmd eval 'lists:foreach(fun(N) -> io:format("~s~n", [N]) end, rabbit_nodes:all_running()).' \
    2>/dev/null | grep '@'
}

# A member of the cluster is ready once every other member that serves AMQP runs in its cluster (so the
# first node of a new cluster is ready alone, and a node that comes back has joined the others).
rabbit_require_joined() {
  local deadline=$(( $(date +%s) + RABBIT_DEADLINE )) i want running
  while :; do
    want=$RABBIT_NODE
    for i in 1 2 3; do
      [ "$(rabbit_node_name "$i")" = "$RABBIT_NODE" ] || ! amqp_answers "${AMQP_PORTS[i - 1]}" ||
        want+=" $(rabbit_node_name "$i")"
    done
    running=$(rabbit_running_nodes | sort | tr '\n' ' ') || running=""
    [ "$running" != "$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ')" ] || break
    [ "$(date +%s)" -lt "$deadline" ] || {
      log_tail "$RABBIT_LOG"; die "$RABBIT_MEMBER: not in a cluster with $want within $RABBIT_DEADLINE s (it runs with: ${running:-none})"; }
    sleep 0.5
  done
  rabbit_require_members_online "$deadline" "$RABBIT_NODE"
}

# The quorum queues of the vhost that list a member (of NODE..., or any when none is named) as not
# online, one "queue: member..." line each; nothing when the vhost does not exist yet.
rabbit_members_offline() {   # rabbit_members_offline [NODE...]
  local out
  out=$(rabbitmqctl_cmd list_vhosts --no-table-headers name 2>&1) || { echo "(list_vhosts: $out)"; return 0; }
  grep -qx "$RABBIT_VHOST" <<<"$out" || return 0
  out=$(rabbitmqctl_cmd list_queues -p "$RABBIT_VHOST" --no-table-headers name type members online 2>&1) ||
    { echo "(list_queues: $out)"; return 0; }
  awk -F'\t' -v only="$*" '
    $2 == "quorum" {
      gsub(/[][ ]/, "", $3); gsub(/[][ ]/, "", $4)
      n = split($3, members, ","); missing = ""
      for (i = 1; i <= n; i++)
        if (index("," $4 ",", "," members[i] ",") == 0 && (only == "" || index(" " only " ", " " members[i] " ")))
          missing = missing " " members[i]
      if (missing != "") print $1 ":" missing
    }' <<<"$out"
}

# Ready only once the order queues' members (on NODE..., or all) are online: a node that comes back,
# or comes back empty after a lost disk, has rejoined every quorum queue it is a member of (it then
# copies the queue's log from the leader).
rabbit_require_members_online() {   # rabbit_require_members_online DEADLINE [NODE...]
  local deadline=$1 offline; shift
  while offline=$(rabbit_members_offline "$@") && [ -n "$offline" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || {
      log_tail "$RABBIT_LOG"; die "$RABBIT_MEMBER: quorum queue members not online within $RABBIT_DEADLINE s: $(tr '\n' ';' <<<"$offline")"; }
    sleep 0.5
  done
}

# Replicated: all three nodes run as one cluster; then the accounts (the cluster shares them).
rabbit_require_cluster() {
  local deadline=$(( $(date +%s) + RABBIT_DEADLINE )) nodes
  rabbit_select rabbit1
  rabbit_paths "$(existing_dir rabbit1)"
  until nodes=$(rabbit_running_nodes | sort | tr '\n' ' ') &&
        [ "$nodes" = "$(printf '%s\n' "${RABBIT_PEERS[@]}" | sort | tr '\n' ' ')" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "rabbit: the cluster does not run all three nodes within $RABBIT_DEADLINE s (running: ${nodes:-none})"
    sleep 0.5
  done
  rabbit_set_accounts
  rabbit_require_members_online "$deadline"
  log "rabbit: cluster $(rabbit_hosts): all three nodes running, every quorum queue's members online"
}

rabbit_kill() {   # SIGKILL, as a crash of the host would (fault tests)
  local dir pid
  dir=$(existing_dir "$RABBIT_MEMBER")
  [ -n "$dir" ] || die "$RABBIT_MEMBER: never started"
  rabbit_paths "$dir"
  pid=$(rabbit_pid) || die "$RABBIT_MEMBER: not running"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone_or_kill "$pid" 10 "$RABBIT_MEMBER" || die "$RABBIT_MEMBER: pid $pid survived SIGKILL"
  rm -f "$RABBIT_PIDFILE"
  log "$RABBIT_MEMBER: killed (SIGKILL to pid $pid)"
}

rabbit_stop() {
  local dir pid t0 stopped=0
  dir=$(existing_dir "$RABBIT_MEMBER")
  t0=$(now_ms)
  if [ -n "$dir" ]; then
    rabbit_paths "$dir"
    if pid=$(rabbit_pid); then
      if ! rabbitmqctl_cmd stop "$RABBIT_PIDFILE" >/dev/null 2>&1; then
        warn "$RABBIT_MEMBER: 'rabbitmqctl stop' failed or timed out"
        kill -TERM "$pid" 2>/dev/null || true
      fi
      wait_gone_or_kill "$pid" "$STOP_DEADLINE" "rabbitmq beam" || die "$RABBIT_MEMBER: pid $pid survived SIGKILL"
      rm -f "$RABBIT_PIDFILE"
      stopped=1
    fi
  fi
  if [ "$stopped" -eq 1 ]; then log "$RABBIT_MEMBER: stopped in $(fmt_secs $(( $(now_ms) - t0 )))"
  else log "$RABBIT_MEMBER: not running"; fi
}

# Our epmd (started by erl on ERL_EPMD_PORT): ask it to quit, then make sure, by the pid on our port.
# After the last node of the profile stopped.
epmd_stop() {
  local pid
  if pid=$(epmd_pid); then
    as_user "$RABBIT_USER" env -i PATH=/usr/bin:/bin ERL_EPMD_PORT="$EPMD_PORT" epmd -port "$EPMD_PORT" -kill \
      >/dev/null 2>&1 || true
    wait_gone_or_kill "$pid" 5 "epmd on port $EPMD_PORT" || die "rabbit: epmd $pid survived SIGKILL"
    log "rabbit: epmd on port $EPMD_PORT stopped"
  fi
}

rabbit_status() {
  local dir; dir=$(existing_dir "$RABBIT_MEMBER")
  if [ -n "$dir" ]; then
    rabbit_paths "$dir"
    if rabbit_pid >/dev/null; then
      if amqp_answers; then echo "running   127.0.0.1:$AMQP_PORT node=$RABBIT_NODE"; return 0; fi
      echo "unhealthy (beam up, no AMQP Connection.Start)"; return 1
    fi
  fi
  echo "stopped"; return 1
}
