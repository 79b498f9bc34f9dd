# Sourced by scripts/services (never run alone): the private ZooKeeper: start, stop, status, readiness.
# Uses the helpers and the configuration that scripts/services sets before sourcing it.
# shellcheck shell=bash

# ---------------------------------------------------------------------------------------------------------
# ZooKeeper
# ---------------------------------------------------------------------------------------------------------
# zk_select MEMBER (zk, or zk1..zk3 of the replicated ensemble): the member the functions below work on.
zk_select() {
  ZK_NAME=$1; ZK_DIR=$RUN/$1; ZK_ID=0; ZK_XMX=512m
  if [ "$1" != zk ]; then ZK_ID=${1#zk}; ZK_PORT=${ZK_PORTS[ZK_ID - 1]}; ZK_XMX=256m; fi
}
# the ensemble's lines of zoo.cfg (none for the single server)
zk_ensemble_config() {
  local i
  [ "$ZK_ID" -gt 0 ] || return 0
  for i in 1 2 3; do
    echo "server.$i=127.0.0.1:$((PORT_BASE + 20 + i)):$((PORT_BASE + 30 + i))"
  done
}
# every client address: host:port[,host:port...]
zk_connect_string() {
  if [ "$PROFILE" = replicated ]; then address_list "${ZK_PORTS[@]}"; else address_list "$ZK_PORT"; fi
}
# Not "/usr/share/java/*": that holds six SLF4J bindings and slf4j picks one by directory order (NOP here,
# so no log at all). zookeeper.jar's manifest Class-Path names its own dependencies (netty, jute, jline,
# slf4j-api, ...); we add exactly one binding: slf4j-simple (server log to stderr) / slf4j-nop (client).
ZK_SERVER_CP=$JAVA_DIR/zookeeper.jar:$JAVA_DIR/slf4j-simple.jar
ZK_CLIENT_CP=$JAVA_DIR/zookeeper.jar:$JAVA_DIR/slf4j-nop.jar

zk_4lw() {   # zk_4lw WORD -> the server's answer
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ZK_PORT && printf %s '$1' >&3 && cat <&3" 2>/dev/null
}

zk_pid() {   # pid of our ZooKeeper server, if it runs
  local pid
  pid=$(cat "$ZK_DIR/zk.pid" 2>/dev/null || true)
  pid_matches "$pid" QuorumPeerMain "$ZK_DIR/zoo.cfg" && echo "$pid"
}

# ZooKeeper's name of a digest identity: USER:base64(sha1(USER:PASSWORD)).
zk_digest() {   # zk_digest USER ACCOUNT
  local hex pw
  pw=$(secret "$2")
  hex=$(printf '%s:%s' "$1" "$pw" | sha1sum | cut -c1-40)
  printf '%s:%s' "$1" "$(printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64)"
}

# The platform's identities (digest scheme): admin is the server's superuser (it may do anything,
# so no ACL names it); gateway and writer are named in the ACL of every znode the platform makes
# (quota/tree_acl.hpp), so every client needs their digests: secrets/zk-identities, one line.
zk_write_identities() {
  local gateway writer
  gateway=$(zk_digest gateway zk-gateway); writer=$(zk_digest writer zk-writer)
  (umask 077
   printf '%s,%s\n' "$gateway" "$writer" >"$SECRETS/zk-identities.tmp.$BASHPID" &&
     mv -f "$SECRETS/zk-identities.tmp.$BASHPID" "$SECRETS/zk-identities")
}

# Create an ephemeral znode and read it back through a real client session.
zk_roundtrip() {
  local node="/flashsale-ping-$$-$RANDOM" val="ok$RANDOM" out
  out=$(printf 'create -e %s %s\nget %s\nquit\n' "$node" "$val" "$node" |
        timeout 20 java -Xmx64m -cp "$ZK_CLIENT_CP" org.apache.zookeeper.ZooKeeperMain \
          -server "127.0.0.1:$ZK_PORT" 2>&1) || true
  grep -qx "Created $node" <<<"$out" && grep -qx "$val" <<<"$out"
}

zk_start() {
  local t0 pid super
  zk_write_identities
  super=$(zk_digest admin zk-admin)
  t0=$(now_ms)
  local j
  for j in zookeeper.jar zookeeper-jute.jar slf4j-api.jar slf4j-simple.jar slf4j-nop.jar; do
    [ -f "$JAVA_DIR/$j" ] || die "$ZK_NAME: $JAVA_DIR/$j missing (packages zookeeper, libslf4j-java; run scripts/bootstrap)"
  done
  command -v java >/dev/null || die "$ZK_NAME: java missing (default-jre-headless)"
  mkdir -p "$ZK_DIR/data"
  if pid=$(zk_pid); then
    log "$ZK_NAME: already running (pid $pid), checking it answers"
  else
    cat >"$ZK_DIR/zoo.cfg" <<EOF
# written by scripts/services at every start
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
# one address only: every address of the namespace when there is another than loopback (a host of
# scripts/hosts has loopback and its bridge address, nothing else)
clientPortAddress=$(if extra_address; then echo 0.0.0.0; else echo 127.0.0.1; fi)
tickTime=2000
initLimit=10
syncLimit=5
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,srvr,mntr
$(zk_ensemble_config)
EOF
    [ "$ZK_ID" -eq 0 ] || echo "$ZK_ID" >"$ZK_DIR/data/myid"
    if port_open "$ZK_PORT"; then die "$ZK_NAME: port $ZK_PORT is already in use by another process"; fi
    {
      echo "==== $(date '+%F %T') starting ZooKeeper (scripts/services)"
    } >>"$ZK_DIR/zk.log"
    (cd "$ZK_DIR" && exec setsid nohup java -Xms32m -Xmx$ZK_XMX \
        -Dorg.slf4j.simpleLogger.showDateTime=true \
        -Dorg.slf4j.simpleLogger.dateTimeFormat='yyyy-MM-dd HH:mm:ss.SSS' \
        -Dzookeeper.jmx.log4j.disable=true \
        -Dzookeeper.DigestAuthenticationProvider.superDigest="$super" \
        -cp "$ZK_SERVER_CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_DIR/zoo.cfg" \
        </dev/null >>"$ZK_DIR/zk.log" 2>&1 9>&- &
     echo $! >"$ZK_DIR/zk.pid")
  fi
  local deadline=$(( $(date +%s) + ZK_DEADLINE ))
  until [ "$(zk_4lw ruok)" = imok ]; do
    if ! zk_pid >/dev/null; then log_tail "$ZK_DIR/zk.log"; die "$ZK_NAME: the server process exited"; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log_tail "$ZK_DIR/zk.log"; die "$ZK_NAME: no 'imok' to 'ruok' within $ZK_DEADLINE s"
    fi
    sleep 0.2
  done
  until zk_roundtrip; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log_tail "$ZK_DIR/zk.log"; die "$ZK_NAME: znode create/get round trip failed within $ZK_DEADLINE s"
    fi
    sleep 0.5
  done
  log "$ZK_NAME: ready at 127.0.0.1:$ZK_PORT $(zk_mode) (pid $(zk_pid), data $ZK_DIR/data) in $(fmt_secs $(( $(now_ms) - t0 )))"
}

# 'leader', 'follower' or 'standalone' (empty when the server does not serve)
zk_mode() { zk_4lw srvr | sed -n 's/^Mode: //p'; }

# Replicated: one leader and two followers among zk1..zk3, within the deadline.
zk_require_ensemble() {
  local deadline=$(( $(date +%s) + ZK_DEADLINE )) modes i
  while :; do
    modes=""
    for i in 1 2 3; do zk_select "zk$i"; modes+="$(zk_mode) "; done
    modes=$(tr ' ' '\n' <<<"$modes" | sed '/^$/d' | sort | tr '\n' ' ')
    [ "$modes" = "follower follower leader " ] && break
    [ "$(date +%s)" -lt "$deadline" ] || die "zk: the ensemble has no leader and two followers within $ZK_DEADLINE s (modes: ${modes:-none})"
    sleep 0.3
  done
  log "zk: ensemble $(zk_connect_string): a leader and two followers"
}

zk_stop() {
  local pid t0
  if ! pid=$(zk_pid); then log "$ZK_NAME: not running"; rm -f "$ZK_DIR/zk.pid"; return 0; fi
  t0=$(now_ms)
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone_or_kill "$pid" "$STOP_DEADLINE" "$ZK_NAME" || die "$ZK_NAME: pid $pid survived SIGKILL"
  rm -f "$ZK_DIR/zk.pid"
  log "$ZK_NAME: stopped in $(fmt_secs $(( $(now_ms) - t0 )))"
}

zk_kill() {   # SIGKILL, as a crash of the host would (fault tests)
  local pid
  pid=$(zk_pid) || die "$ZK_NAME: not running"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone_or_kill "$pid" 10 "$ZK_NAME" || die "$ZK_NAME: pid $pid survived SIGKILL"
  rm -f "$ZK_DIR/zk.pid"
  log "$ZK_NAME: killed (SIGKILL to pid $pid)"
}

zk_status() {
  if zk_pid >/dev/null; then
    if [ "$(zk_4lw ruok)" = imok ]; then echo "running   127.0.0.1:$ZK_PORT $(zk_mode)"; return 0; fi
    echo "unhealthy (process up, no 'imok')"; return 1
  fi
  echo "stopped"; return 1
}
