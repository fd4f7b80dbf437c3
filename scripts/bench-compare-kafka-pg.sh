#!/usr/bin/env bash
# Builds of Onboard side by side on Kafka + PostgreSQL (`onboard up` on one broker and a fresh
# PostgreSQL cluster per run), measured in one run so the machine is the same for all:
#
#   scripts/bench-compare-kafka-pg.sh NAME=BIN [NAME=BIN ...] -- RATE [RATE ...]
#
# For each rate and each build in turn: a fresh PostgreSQL cluster (scripts/postgres.sh), a topic
# prefix and consumer group of the run's own on one Kafka broker (scripts/kafka.sh, port base
# 21091, started here when it is not running and stopped again at the end), `onboard up`, then
# `onboard bench --rate RATE --duration $BENCH_SECONDS` (default 15) with the last build as the
# load generator for every run, so only the server differs. With BENCH_CPU=1 it also records the
# CPU seconds of the server, PostgreSQL, Kafka and the load generator, and the CPU left idle, over
# 10 s from the 4th second of each run (BENCH_SECONDS of 15 or more). A broker started here is
# first warmed up by one unreported run of $BENCH_WARMUP s (default 60; its JIT compiler otherwise
# takes CPU from the first runs). Prints one Markdown table; the JSON reports stay in $BENCH_OUT
# (default a new temporary directory). Needs python3.
set -euo pipefail
# shellcheck source=lib/bench-compare.sh
source "$(dirname "$0")/lib/bench-compare.sh"
bench_parse_args 16 "$@"
cd "$(dirname "$0")/.."
seconds=${BENCH_SECONDS:-15}
if [[ -n ${BENCH_CPU:-} ]] && ((seconds < 15)); then
  echo "bench-compare-kafka-pg: BENCH_CPU needs BENCH_SECONDS of 15 or more; CPU not recorded" >&2
fi
out=${BENCH_OUT:-$(mktemp -d /tmp/bench-kafka-pg.XXXXXX)}
mkdir -p "$out"
loadgen=${builds[-1]#*=}
ulimit -n 20000 2>/dev/null || true

export ONBOARD_PG_DIR=/tmp/onboard-pg-bench ONBOARD_PG_PORT=23101
http_port=24001

server=
cleanup() {
  if [[ -n $server ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  scripts/postgres.sh stop >/dev/null 2>&1 || true
  if ((bench_started_kafka)); then
    scripts/kafka.sh stop >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
bench_start_kafka

# One run: a fresh PostgreSQL and `onboard up`, the bench, CPU when asked.
one_run() {
  scripts/postgres.sh stop >/dev/null 2>&1 || true
  scripts/postgres.sh start >/dev/null
  database_url=$(scripts/postgres.sh env | sed -n 's/^export DATABASE_URL=//p')
  prefix="bench$(date +%s)r$run"
  # An empty environment besides what this run sets: nothing of the developer's own setup.
  # The database URL goes through the environment, never the command line.
  env -i PATH="$PATH" DATABASE_URL="$database_url" KAFKA_BROKERS="$bench_brokers" \
    ONBOARD_REPLICATION_FACTOR=1 ONBOARD_TOPIC_PREFIX="$prefix." \
    ONBOARD_CONSUMER_GROUP="$prefix-group" ONBOARD_LOG=warn ONBOARD_MAX_CONCURRENT_UPLOADS=1024 \
    "$bin" up --listen "127.0.0.1:$http_port" --data-dir "$dir/data" >"$dir/up.out" 2>"$dir/up.err" &
  server=$!
  bench_wait_ready "http://127.0.0.1:$http_port" "$server" "$dir/up.err"
  echo "== $tag: $rate steps/s for $seconds s" >&2
  env -i PATH="$PATH" ONBOARD_LOG=warn "$loadgen" bench --url "http://127.0.0.1:$http_port" \
    --data-dir "$dir/data" --rate "$rate" --duration "$seconds" --json "$out/$tag.json" \
    >"$dir/bench.out" 2>&1 &
  bench=$!
  if [[ -n ${BENCH_CPU:-} ]] && ((seconds >= 15)); then
    sleep 4
    kafka=$(pgrep -f "kafka.Kafka.*$ONBOARD_KAFKA_RUN_DIR" | head -1 || true)
    # The cluster's postmaster and its children (the backends open by now, WAL writer, …).
    postmaster=$(head -1 "$ONBOARD_PG_DIR/data/postmaster.pid")
    mapfile -t postgres < <(echo "$postmaster"; pgrep -P "$postmaster" || true)
    before="$(bench_ticks "$server") $(bench_ticks "${postgres[@]}") $(bench_ticks ${kafka:+"$kafka"}) $(bench_ticks "$bench") $(bench_idle_ticks)"
    sleep 10
    after="$(bench_ticks "$server") $(bench_ticks "${postgres[@]}") $(bench_ticks ${kafka:+"$kafka"}) $(bench_ticks "$bench") $(bench_idle_ticks)"
    bench_cpu_seconds "$before" "$after" >"$out/$tag.cpu"
  fi
  wait "$bench" || echo "bench-compare-kafka-pg: $tag lost or failed something (see its JSON)" >&2
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
}
bench_warm_up one_run
bench_each_run one_run

python3 - "$out" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
def pct(p):
    return f"{p['p50']:.1f} / {p['p99']:.1f}"
cpu = bool(glob.glob(os.path.join(out, "*.cpu")))
head = "| run | answered steps/s | step p50 / p99 ms | push p50 / p99 ms | lost / failed |"
rule = "|---|---|---|---|---|"
if cpu:
    head += " CPU s in 10 s: server / PostgreSQL / Kafka / load generator / idle |"
    rule += "---|"
print(head)
print(rule)
for path in sorted(glob.glob(os.path.join(out, "*.json")), key=lambda p: int(p.rsplit("-", 1)[1][:-5])):
    tag = os.path.basename(path)[:-5]
    r = json.load(open(path))
    row = f"| {tag} | {r['steps_per_s']:.0f} | {pct(r['step_ms'])} | {pct(r['push_ms'])} | {r['lost']} / {r['failed']} |"
    if cpu:
        cpu_file = os.path.join(out, tag + ".cpu")
        figures = open(cpu_file).read().split() if os.path.exists(cpu_file) else []
        row += " " + " / ".join(figures) + " |"
    print(row)
print(f"\nJSON reports: {out}")
EOF
