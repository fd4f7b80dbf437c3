#!/usr/bin/env bash
# Builds of Onboard side by side on the Kafka → WebSocket leg alone (`onboard bench --bus-direct`),
# measured in one run so the machine is the same for all:
#
#   scripts/bench-compare-bus-direct.sh NAME=BIN [NAME=BIN ...] -- RATE [RATE ...]
#
# For each rate and each build in turn: `onboard up` (its SQLite store and Maildir, a topic prefix
# and consumer group of the run's own) on one Kafka broker (scripts/kafka.sh, port base 21091,
# started here when it is not running and stopped again at the end); then the last build's
# `onboard bench --bus-direct` registers $BENCH_CUSTOMERS customers (default 1000) over HTTP, each
# with its socket open, and writes RATE events a second straight to the topics for $BENCH_SECONDS
# (default 20), checking each arrives once and in order. Records the CPU seconds of the server,
# Kafka and the load generator, and the CPU left idle, over 10 s from the 4th second of the
# writing (BENCH_SECONDS of 15 or more), and the e-mails still queued 5 s after the end. Prints
# one Markdown table; the JSON reports stay in $BENCH_OUT (default a new temporary directory).
# A broker started here is first warmed up by one unreported run of $BENCH_WARMUP s (default 60;
# its JIT compiler otherwise takes CPU from the first runs). Needs python3.
set -euo pipefail
# shellcheck source=lib/bench-compare.sh
source "$(dirname "$0")/lib/bench-compare.sh"
bench_parse_args 17 "$@"
cd "$(dirname "$0")/.."
seconds=${BENCH_SECONDS:-20}
customers=${BENCH_CUSTOMERS:-1000}
out=${BENCH_OUT:-$(mktemp -d /tmp/bench-bus-direct.XXXXXX)}
mkdir -p "$out"
loadgen=${builds[-1]#*=}
ulimit -n 20000 2>/dev/null || true

http_port=24011

server=
bench=
cleanup() {
  for pid in $bench $server; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if ((bench_started_kafka)); then
    scripts/kafka.sh stop >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
bench_start_kafka

# Notifications of the run's store not delivered yet.
queued_mail() {
  python3 - "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(db.execute("SELECT count(*) FROM notifications WHERE delivered_at IS NULL").fetchone()[0])
EOF
}

# One run: a fresh `onboard up`, the bench writing to its topics, CPU and the mail left.
one_run() {
  prefix="busdirect$(date +%s)r$run"
  # An empty environment besides what this run sets: nothing of the developer's own setup.
  common=(PATH="$PATH" KAFKA_BROKERS="$bench_brokers" ONBOARD_REPLICATION_FACTOR=1
    ONBOARD_TOPIC_PREFIX="$prefix." ONBOARD_LOG=warn)
  env -i "${common[@]}" ONBOARD_CONSUMER_GROUP="$prefix-group" \
    "$bin" up --listen "127.0.0.1:$http_port" --data-dir "$dir/data" >"$dir/up.out" 2>"$dir/up.err" &
  server=$!
  bench_wait_ready "http://127.0.0.1:$http_port" "$server" "$dir/up.err"
  echo "== $tag: $customers customers, then $rate events/s for $seconds s" >&2
  env -i "${common[@]}" "$loadgen" bench --bus-direct --url "http://127.0.0.1:$http_port" \
    --data-dir "$dir/data" --customers "$customers" --rate "$rate" --duration "$seconds" \
    --json "$out/$tag.json" >"$dir/bench.out" 2>"$dir/bench.err" &
  bench=$!
  if ((seconds >= 15)); then
    # The writing starts once every customer is registered (the bench says so).
    until grep -q "customers registered" "$dir/bench.err" 2>/dev/null || ! kill -0 "$bench" 2>/dev/null; do
      sleep 0.1
    done
    sleep 4
    kafka=$(pgrep -f "kafka.Kafka.*$ONBOARD_KAFKA_RUN_DIR" | head -1 || true)
    before="$(bench_ticks "$server") $(bench_ticks ${kafka:+"$kafka"}) $(bench_ticks "$bench") $(bench_idle_ticks)"
    sleep 10
    after="$(bench_ticks "$server") $(bench_ticks ${kafka:+"$kafka"}) $(bench_ticks "$bench") $(bench_idle_ticks)"
    bench_cpu_seconds "$before" "$after" >"$out/$tag.cpu"
  fi
  wait "$bench" || echo "bench-compare-bus-direct: $tag lost or failed something (see its JSON)" >&2
  bench=
  sleep 5
  queued_mail "$dir/data/onboard.db" >"$out/$tag.mail"
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
}
bench_warm_up one_run
bench_each_run one_run

python3 - "$out" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
def read(tag, ext):
    path = os.path.join(out, f"{tag}.{ext}")
    return open(path).read().split() if os.path.exists(path) else []
print("| run | delivered events/s | write p50 / p99 ms | push p50 / p95 / p99 / max ms | lost | mail queued 5 s after | CPU s in 10 s: server / Kafka / load generator / idle |")
print("|---|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(out, "*.json")), key=lambda p: int(p.rsplit("-", 1)[1][:-5])):
    tag = os.path.basename(path)[:-5]
    r = json.load(open(path))
    w, p = r["step_ms"], r["push_ms"]
    print(f"| {tag} | {r['steps_per_s']:.0f} | {w['p50']:.1f} / {w['p99']:.1f} | "
          f"{p['p50']:.0f} / {p['p95']:.0f} / {p['p99']:.0f} / {p['max']:.0f} | {r['lost']} | "
          f"{' '.join(read(tag, 'mail'))} | {' / '.join(read(tag, 'cpu'))} |")
print(f"\nJSON reports: {out}")
EOF
