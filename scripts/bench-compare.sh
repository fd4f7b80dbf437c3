#!/usr/bin/env bash
# Two builds of Onboard side by side on the embedded setup (`onboard up`, SQLite + embedded
# bus), measured in one run so the machine is the same for both:
#
#   scripts/bench-compare.sh BEFORE_BIN AFTER_BIN [RATE ...]      (default rates: 100 300 600 1000 2000)
#
# For each rate and each build in turn: a fresh `onboard up` (its own data directory and port),
# `onboard bench --rate RATE --duration $BENCH_SECONDS` (default 15) with AFTER_BIN as the load
# generator for both, so only the server differs. Then, per build, the time from start to
# `/readyz` answering 200, and $BENCH_CONNECTIONS idle WebSockets (default 5000) held for 5 s
# with the server's memory per connection. The servers accept 1024 uploads at once instead of
# 16 (the bench's documents are tiny; the default guards a node's memory against big ones). Prints one Markdown table; the JSON reports stay in
# $BENCH_OUT (default a new temporary directory). Needs python3 for the table.
# Every run's data directory stays there too: deleting tens of thousands of files just before a
# run slows that run's file creation for minutes on ext4 without a journal (docs/data-lifecycle.md,
# "Prune little and often"), so delete $BENCH_OUT only when the comparison is over.
set -euo pipefail
if (($# < 2)); then
  sed -n '2,16p' "$0" >&2
  exit 2
fi
before=$(realpath "$1")
after=$(realpath "$2")
shift 2
rates=("$@")
((${#rates[@]})) || rates=(100 300 600 1000 2000)
seconds=${BENCH_SECONDS:-15}
connections=${BENCH_CONNECTIONS:-5000}
out=${BENCH_OUT:-$(mktemp -d /tmp/bench-compare.XXXXXX)}
mkdir -p "$out"
ulimit -n 65536 2>/dev/null || true

server=
stop_server() {
  if [[ -n $server ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}
trap stop_server EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server BIN NAME: a fresh `onboard up`; sets $server, $url, $dir and $ready_ms.
start_server() {
  local bin=$1 name=$2 port
  dir="$out/$name"
  rm -rf "$dir"
  mkdir -p "$dir"
  port=$(free_port)
  url="http://127.0.0.1:$port"
  local started
  started=$(date +%s%N)
  # An empty environment: nothing of the developer's Kafka or PostgreSQL.
  env -i PATH="$PATH" ONBOARD_LOG=warn ONBOARD_MAX_CONCURRENT_UPLOADS=1024 "$bin" up --listen "127.0.0.1:$port" --data-dir "$dir/data" \
    >"$dir/up.out" 2>"$dir/up.err" &
  server=$!
  for _ in $(seq 2000); do
    if curl -fs -o /dev/null "$url/readyz"; then
      ready_ms=$((($(date +%s%N) - started) / 1000000))
      return
    fi
    kill -0 "$server" 2>/dev/null || { cat "$dir/up.err" >&2; exit 1; }
    sleep 0.005
  done
  echo "bench-compare: $bin did not become ready" >&2
  exit 1
}

bench() {
  env -i PATH="$PATH" ONBOARD_LOG=warn "$after" bench --url "$url" --data-dir "$dir/data" "$@" ||
    echo "bench-compare: the run lost or failed something (see its JSON)" >&2
}

for rate in "${rates[@]}"; do
  for build in before after; do
    bin=$before
    [[ $build == after ]] && bin=$after
    start_server "$bin" "$build-$rate"
    echo "== $build, $rate steps/s for $seconds s" >&2
    bench --rate "$rate" --duration "$seconds" --json "$out/$build-$rate.json" >/dev/null
    stop_server
  done
done

for build in before after; do
  bin=$before
  [[ $build == after ]] && bin=$after
  start_server "$bin" "$build-idle"
  echo "$ready_ms" >"$out/$build-ready-ms"
  echo "== $build, $connections idle WebSockets" >&2
  bench --connections "$connections" --hold 5 --pid "$server" --json "$out/$build-idle.json" >/dev/null
  stop_server
done

python3 - "$out" "${rates[@]}" <<'EOF'
import json, sys, os
out, rates = sys.argv[1], sys.argv[2:]
def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None
def pct(p):
    return f"{p['p50']:.1f} / {p['p99']:.1f} / {p['max']:.0f}"
print("| asked steps/s | build | answered steps/s | step p50 / p99 / max ms | push p50 / p99 / max ms | lost / failed |")
print("|---|---|---|---|---|---|")
for rate in rates:
    for build in ("before", "after"):
        r = load(f"{build}-{rate}.json")
        if r is None:
            print(f"| {rate} | {build} | (no report) | | | |")
            continue
        print(f"| {rate} | {build} | {r['steps_per_s']:.0f} | {pct(r['step_ms'])} | {pct(r['push_ms'])} | {r['lost']} / {r['failed']} |")
print()
print("| build | ready after | idle WebSockets opened | opened per s | server KiB per connection |")
print("|---|---|---|---|---|")
for build in ("before", "after"):
    r = load(f"{build}-idle.json") or {}
    c = r.get("connections") or {}
    ready = open(os.path.join(out, f"{build}-ready-ms")).read().strip()
    kib = c.get("server_kib_per_connection")
    print(f"| {build} | {ready} ms | {c.get('opened', '-')} (failed {c.get('failed', '-')}) | {c.get('open_per_s', 0):.0f} | {kib:.1f} |" if kib is not None else f"| {build} | {ready} ms | {c.get('opened', '-')} | {c.get('open_per_s', 0):.0f} | - |")
print(f"\nJSON reports: {out}")
EOF
