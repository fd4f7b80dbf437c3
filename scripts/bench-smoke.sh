#!/usr/bin/env bash
# CI smoke test of the load tool: a few seconds of `onboard bench` against a fresh embedded
# `onboard up` on a free port. Fails when bench exits non-zero (an event lost, a workflow
# failed); no timing is judged. Uses the debug binary `cargo test --all-targets` built.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ONBOARD_BIN:-target/debug/onboard}
dir=$(mktemp -d)
server=
cleanup() {
  if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

# An empty environment: a developer's DATABASE_URL or KAFKA_BROKERS must not be used.
env -i PATH="$PATH" ONBOARD_LOG=warn "$bin" up --listen 127.0.0.1:0 --data-dir "$dir" >"$dir/up.out" 2>"$dir/up.err" &
server=$!
url=
for _ in $(seq 100); do
  url=$(sed -n 's|^ *API *\(http://[^ ]*\)/v1 .*|\1|p' "$dir/up.out")
  [[ -n $url ]] && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/up.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n $url ]] || { echo "bench-smoke: onboard up did not start" >&2; exit 1; }

env -i PATH="$PATH" ONBOARD_LOG=warn "$bin" bench --url "$url" --data-dir "$dir" \
  --rate 50 --duration 3 --json "$dir/bench.json"
echo "bench-smoke: passed"
