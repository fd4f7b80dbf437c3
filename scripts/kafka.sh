#!/usr/bin/env bash
# A real Apache Kafka (KRaft) on 127.0.0.1 for development and CI, needing only Java 17 and Maven
# (Debian's packages, installed here when missing: as root, or through sudo).
#
#   scripts/kafka.sh start [--nodes 1|3]   fetch Kafka (once), format, start, wait until it answers
#   scripts/kafka.sh status                which nodes run, and their ports
#   scripts/kafka.sh env [--sasl]          the `export` lines Onboard needs: eval "$(scripts/kafka.sh env)"
#   scripts/kafka.sh stop                  stop every node and delete the run directory
#
# Ports of node i (1-based): PLAINTEXT 9091+i, SASL_SSL (SCRAM-SHA-512 as on MSK's SCRAM port,
# and SCRAM-SHA-256) 9095+i, KRaft controller 19091+i. One node: 9092 / 9096 / 19092; three: 9092-9094 /
# 9096-9098 / 19092-19094. Every node is broker and controller.
#
# A second cluster beside the first (e.g. to reproduce a failure on a freshly started cluster
# without stopping a shared one): set ONBOARD_KAFKA_PORT_BASE (default 9091; node i then listens
# on PLAINTEXT base+i, SASL_SSL base+4+i, controller base+10000+i) and a run directory of its
# own, ONBOARD_KAFKA_RUN_DIR, for every command:
#   ONBOARD_KAFKA_PORT_BASE=29091 ONBOARD_KAFKA_RUN_DIR=/tmp/onboard-kafka-2 scripts/kafka.sh start --nodes 3
#
# Kafka's jars come from Maven Central (org.apache.kafka:kafka_2.13 and its runtime dependencies)
# into ${ONBOARD_CACHE:-~/.cache/onboard}/kafka/<version>. State (configs, logs, data, the
# throwaway CA, the broker certificate and the SCRAM user's password) lives in the run directory
# ${ONBOARD_KAFKA_RUN_DIR:-/tmp/onboard-kafka}. Secrets are kept in files readable only by the
# owner, never on the command line of a running broker.
#
# `start` is idempotent: nodes already running are left alone, missing ones (e.g. one killed by a
# failover test) are started again with their data.
set -euo pipefail
# shellcheck source=lib/debian-packages.sh
source "$(dirname "$0")/lib/debian-packages.sh"

KAFKA_VERSION="${ONBOARD_KAFKA_VERSION:-4.1.1}"
CACHE_DIR="${ONBOARD_CACHE:-$HOME/.cache/onboard}/kafka/$KAFKA_VERSION"
RUN_DIR="${ONBOARD_KAFKA_RUN_DIR:-/tmp/onboard-kafka}"
SCRAM_USER="onboard"
# The SASL_SSL listener takes both; the user has a credential for each (written at format time).
SCRAM_MECHANISMS=(SCRAM-SHA-512 SCRAM-SHA-256)
START_TIMEOUT_SECS=120

die() { echo "kafka.sh: $*" >&2; exit 1; }
say() { echo "kafka.sh: $*" >&2; }

PORT_BASE="${ONBOARD_KAFKA_PORT_BASE:-9091}"
[[ "$PORT_BASE" =~ ^[0-9]+$ ]] && ((PORT_BASE >= 1024 && PORT_BASE <= 55000)) \
  || { echo "kafka.sh: ONBOARD_KAFKA_PORT_BASE must be a number from 1024 to 55000" >&2; exit 1; }

plaintext_port() { echo $((PORT_BASE + $1)); }
sasl_port() { echo $((PORT_BASE + 4 + $1)); }
controller_port() { echo $((PORT_BASE + 10000 + $1)); }

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- fetching Kafka -------------------------------------------------------------------------

# A random cluster id (16 bytes, URL-safe base64, like `kafka-storage random-uuid`). One that
# starts with '-' is drawn again: kafka-storage would read it as an option ("--cluster-id:
# expected one argument"), one start in 64.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id == -* ]] || break
  done
  printf '%s' "$id"
}

fetch_kafka() {
  if [[ -f "$CACHE_DIR/.complete" ]]; then
    return
  fi
  command -v mvn >/dev/null || ensure_debian_packages kafka.sh "fetching Kafka's jars" maven || exit 1
  command -v mvn >/dev/null || die "mvn is not on the PATH (Debian's maven puts it in /usr/bin)"
  say "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $CACHE_DIR"
  local work
  work="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.onboard</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- The broker logs through SLF4J 2; Kafka's distribution ships log4j2 as the backend. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>2.0.16</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>2.24.3</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>2.24.3</version>
    </dependency>
  </dependencies>
</project>
EOF
  rm -rf "$CACHE_DIR"
  mkdir -p "$CACHE_DIR"
  if ! mvn -B -q -f "$work/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$CACHE_DIR/libs" >"$work/mvn.log" 2>&1; then
    tail -n 30 "$work/mvn.log" >&2
    die "Maven could not fetch Kafka $KAFKA_VERSION (see above)"
  fi
  ls "$CACHE_DIR"/libs/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka_2.13 is missing from $CACHE_DIR/libs"
  touch "$CACHE_DIR/.complete"
}

kafka_java() {
  # $1: log4j2 config; rest: main class and arguments.
  local log_config="$1"
  shift
  java -Xms128m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$log_config" \
    -cp "$CACHE_DIR/libs/*" "$@"
}

# --- TLS and SCRAM material -----------------------------------------------------------------

make_tls() {
  local tls="$RUN_DIR/tls"
  [[ -f "$tls/broker.p12" ]] && return
  command -v openssl >/dev/null \
    || ensure_debian_packages kafka.sh "the brokers' certificates" openssl || exit 1
  mkdir -p "$tls"
  chmod 700 "$tls"
  openssl rand -hex 24 >"$tls/store-password"
  chmod 600 "$tls/store-password"
  # A throwaway CA, valid one year, and a broker certificate for 127.0.0.1 and localhost.
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=Onboard dev CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/broker.ext"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 365 -extfile "$tls/broker.ext" -out "$tls/broker.pem" 2>/dev/null
  openssl pkcs12 -export -in "$tls/broker.pem" -inkey "$tls/broker.key" -certfile "$tls/ca.pem" \
    -name broker -passout "file:$tls/store-password" -out "$tls/broker.p12"
  chmod 600 "$tls"/*.key "$tls/broker.p12"
}

make_scram_password() {
  local sasl="$RUN_DIR/sasl"
  [[ -f "$sasl/password" ]] && return
  mkdir -p "$sasl"
  chmod 700 "$sasl"
  (umask 077 && openssl rand -hex 16 >"$sasl/password")
  echo "$SCRAM_USER" >"$sasl/username"
  # Which mechanisms this cluster's user has credentials for (a run directory of an older
  # kafka.sh has SCRAM-SHA-512 only, and no such file); the tests read it.
  echo "${SCRAM_MECHANISMS[*]}" >"$sasl/mechanisms"
}

# --- configuration --------------------------------------------------------------------------

write_node_config() {
  local node="$1" nodes="$2"
  local dir="$RUN_DIR/node-$node" voters="" i
  for ((i = 1; i <= nodes; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:$(controller_port "$i")"
  done
  local rf=$((nodes < 3 ? nodes : 3))
  local store_password
  store_password="$(cat "$RUN_DIR/tls/store-password")"
  mkdir -p "$dir/data"
  (
    umask 077
    cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka.sh for node $node of a $nodes-node development cluster.
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$(plaintext_port "$node"),SASL_SSL://127.0.0.1:$(sasl_port "$node"),CONTROLLER://127.0.0.1:$(controller_port "$node")
advertised.listeners=PLAINTEXT://127.0.0.1:$(plaintext_port "$node"),SASL_SSL://127.0.0.1:$(sasl_port "$node")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$RUN_DIR/tls/broker.p12
ssl.keystore.password=$store_password
ssl.key.password=$store_password
log.dirs=$dir/data
num.partitions=3
default.replication.factor=$rf
# Onboard creates its topics explicitly (onboard topics create); a typo must not create one.
auto.create.topics.enable=false
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=1
# Development: groups form at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
# KIP-848 groups (Onboard's default protocol): as the classic members had, a killed member's
# partitions move after 10 s, and members heartbeat (and learn new assignments) every 0.5 s
# instead of every 5 s, so a just-created topic's partitions are not waited for either.
group.consumer.min.session.timeout.ms=10000
group.consumer.session.timeout.ms=10000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=500
log.segment.bytes=16777216
EOF
  )
  cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

format_node() {
  local node="$1"
  local dir="$RUN_DIR/node-$node"
  [[ -f "$dir/data/meta.properties" ]] && return
  local cluster_id password mechanism scram=()
  cluster_id="$(cat "$RUN_DIR/cluster-id")"
  password="$(cat "$RUN_DIR/sasl/password")"
  for mechanism in "${SCRAM_MECHANISMS[@]}"; do
    scram+=(--add-scram "$mechanism=[name=$SCRAM_USER,password=$password]")
  done
  # The SCRAM credential is written into the metadata log at format time. This one short-lived
  # command carries the throwaway password as an argument (the storage tool has no other way);
  # the brokers never do.
  if ! kafka_java "$dir/log4j2.properties" kafka.tools.StorageTool format \
      --config "$dir/server.properties" --cluster-id "$cluster_id" --ignore-formatted \
      "${scram[@]}" >"$dir/format.log" 2>&1; then
    cat "$dir/format.log" >&2
    die "formatting the storage of node $node failed"
  fi
}

# --- processes ------------------------------------------------------------------------------

node_pid() {
  local file="$RUN_DIR/node-$1/pid"
  [[ -f "$file" ]] || return 1
  local pid
  pid="$(cat "$file")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

configured_nodes() {
  [[ -f "$RUN_DIR/nodes" ]] && cat "$RUN_DIR/nodes" || echo 0
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_node() {
  local node="$1"
  local dir="$RUN_DIR/node-$node"
  if node_pid "$node" >/dev/null; then
    return
  fi
  local port
  for port in "$(plaintext_port "$node")" "$(sasl_port "$node")" "$(controller_port "$node")"; do
    port_open "$port" && die "port $port is taken by another process; is another Kafka running? (scripts/kafka.sh stop, or free the port)"
  done
  nohup setsid java -Xms128m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$CACHE_DIR/libs/*" kafka.Kafka "$dir/server.properties" \
    >>"$dir/server.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

wait_node() {
  local node="$1" waited=0
  local port
  port="$(plaintext_port "$node")"
  local since
  since="$(cat "$RUN_DIR/node-$node/log-offset" 2>/dev/null || echo 0)"
  until tail -c +"$((since + 1))" "$RUN_DIR/node-$node/server.log" 2>/dev/null | grep -q "Kafka Server started" && port_open "$port"; do
    if ! node_pid "$node" >/dev/null; then
      tail -n 40 "$RUN_DIR/node-$node/server.log" >&2 || true
      die "node $node exited during start-up (log: $RUN_DIR/node-$node/server.log)"
    fi
    if ((waited >= START_TIMEOUT_SECS * 2)); then
      tail -n 40 "$RUN_DIR/node-$node/server.log" >&2 || true
      die "node $node did not answer on 127.0.0.1:$port within ${START_TIMEOUT_SECS}s"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}

# broker_list PORT_FUNCTION NODES: the comma-separated 127.0.0.1 addresses of the nodes' listeners.
broker_list() {
  local port_of=$1 nodes=$2 node list=""
  for ((node = 1; node <= nodes; node++)); do
    list+="${list:+,}127.0.0.1:$("$port_of" "$node")"
  done
  echo "$list"
}

cmd_start() {
  local nodes=1
  while (($#)); do
    case "$1" in
      --nodes) nodes="${2:-}"; shift 2 ;;
      --nodes=*) nodes="${1#*=}"; shift ;;
      *) die "unknown option for start: $1" ;;
    esac
  done
  [[ "$nodes" == 1 || "$nodes" == 3 ]] || die "--nodes must be 1 or 3"
  local existing
  existing="$(configured_nodes)"
  # A cluster set up by an older kafka.sh has no SCRAM-SHA-256 credential (written only at format
  # time), so its SCRAM tests could not run: recreate it rather than let them skip.
  if [[ "$existing" != 0 && -f "$RUN_DIR/sasl/password" && ! -f "$RUN_DIR/sasl/mechanisms" ]]; then
    say "the cluster in $RUN_DIR predates SCRAM-SHA-256: recreating it"
    cmd_stop
    existing=0
  fi
  if [[ "$existing" != 0 && "$existing" != "$nodes" ]]; then
    die "a $existing-node cluster is set up in $RUN_DIR; run 'scripts/kafka.sh stop' first"
  fi
  # Kafka 4.1 runs on Java 17 or newer; any `java` on the PATH is tried, Debian's 17 installed if none is.
  command -v java >/dev/null \
    || ensure_debian_packages kafka.sh "running Kafka" openjdk-17-jre-headless || exit 1
  command -v java >/dev/null || die "java is not on the PATH (Debian's openjdk-17-jre-headless puts it in /usr/bin)"
  fetch_kafka
  mkdir -p "$RUN_DIR"
  chmod 700 "$RUN_DIR"
  [[ -s "$RUN_DIR/cluster-id" ]] || new_cluster_id >"$RUN_DIR/cluster-id"
  echo "$nodes" >"$RUN_DIR/nodes"
  make_tls
  make_scram_password
  # The tests reach the SASL_SSL listeners here, wherever ONBOARD_KAFKA_PORT_BASE put them.
  broker_list sasl_port "$nodes" >"$RUN_DIR/sasl/brokers"
  local node started=()
  for ((node = 1; node <= nodes; node++)); do
    if node_pid "$node" >/dev/null; then
      continue
    fi
    write_node_config "$node" "$nodes"
    format_node "$node"
    mkdir -p "$RUN_DIR/node-$node"
    stat -c %s "$RUN_DIR/node-$node/server.log" 2>/dev/null >"$RUN_DIR/node-$node/log-offset" || echo 0 >"$RUN_DIR/node-$node/log-offset"
    start_node "$node"
    started+=("$node")
  done
  for node in "${started[@]}"; do
    wait_node "$node"
  done
  if ((${#started[@]})); then
    say "started node(s) ${started[*]} of a $nodes-node Kafka $KAFKA_VERSION cluster"
  else
    say "already running: a $nodes-node Kafka $KAFKA_VERSION cluster"
  fi
  cmd_status
}

cmd_status() {
  local nodes node running=0
  nodes="$(configured_nodes)"
  if [[ "$nodes" == 0 ]]; then
    echo "not running (no cluster in $RUN_DIR)"
    return 1
  fi
  for ((node = 1; node <= nodes; node++)); do
    local pid state
    if pid="$(node_pid "$node")"; then
      state="running (pid $pid)"
      running=$((running + 1))
    else
      state="stopped"
    fi
    printf 'node %d  %-22s PLAINTEXT 127.0.0.1:%d  SASL_SSL 127.0.0.1:%d  controller 127.0.0.1:%d\n' \
      "$node" "$state" "$(plaintext_port "$node")" "$(sasl_port "$node")" "$(controller_port "$node")"
  done
  ((running == nodes))
}

cmd_env() {
  local sasl=0
  while (($#)); do
    case "$1" in
      --sasl) sasl=1; shift ;;
      *) die "unknown option for env: $1" ;;
    esac
  done
  local nodes
  nodes="$(configured_nodes)"
  [[ "$nodes" != 0 ]] || die "no cluster is set up; run 'scripts/kafka.sh start' first"
  if ((sasl)); then
    echo "export KAFKA_BROKERS=$(broker_list sasl_port "$nodes")"
  else
    echo "export KAFKA_BROKERS=$(broker_list plaintext_port "$nodes")"
  fi
  # The tests find the TLS and SCRAM material of this cluster there.
  echo "export ONBOARD_KAFKA_RUN_DIR=$RUN_DIR"
  # Topics are replicated to every node of a small development cluster (at most 3).
  echo "export ONBOARD_REPLICATION_FACTOR=$((nodes < 3 ? nodes : 3))"
  if ((sasl)); then
    echo "export KAFKA_SECURITY_PROTOCOL=SASL_SSL"
    echo "export KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
    echo "export KAFKA_CA_FILE=$RUN_DIR/tls/ca.pem"
    echo "export KAFKA_USERNAME=$SCRAM_USER"
    # The password stays in its file: the shell reads it when it evaluates this line.
    echo "export KAFKA_PASSWORD=\"\$(cat $RUN_DIR/sasl/password)\""
  else
    echo "export KAFKA_SECURITY_PROTOCOL=PLAINTEXT"
    echo "unset KAFKA_USERNAME KAFKA_PASSWORD KAFKA_SASL_MECHANISM KAFKA_CA_FILE"
  fi
}

cmd_stop() {
  local nodes node
  nodes="$(configured_nodes)"
  for ((node = 1; node <= nodes; node++)); do
    local pid
    if pid="$(node_pid "$node")"; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  local waited=0
  for ((node = 1; node <= nodes; node++)); do
    local pid
    while pid="$(node_pid "$node")"; do
      if ((waited >= 60)); then
        say "node $node did not stop within 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
        break
      fi
      sleep 0.5
      waited=$((waited + 1))
    done
  done
  rm -rf "$RUN_DIR"
  say "stopped; removed $RUN_DIR"
}

main() {
  (($#)) || usage
  local command="$1"
  shift
  case "$command" in
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env "$@" ;;
    -h | --help | help) usage ;;
    *) die "unknown command '$command' (start|stop|status|env)" ;;
  esac
}

main "$@"
