# Sourced by the scripts that run builds of Onboard side by side on Kafka
# (bench-compare-kafka-pg.sh, bench-compare-bus-direct.sh): what they share.
#
#   bench_parse_args USAGE_LINES "$@"   NAME=BIN ... -- RATE ...: sets `builds` (NAME=absolute
#                                       path) and `rates`; else prints the caller's header lines
#                                       2..USAGE_LINES and exits 2
#   bench_each_run FUNCTION             for each rate, each build in turn: sets rate, name, bin,
#                                       run (1, 2, ...), tag (NAME-RATE-RUN) and dir ($out/$tag,
#                                       created), then calls FUNCTION
#   bench_start_kafka                   one broker on port base 21091 unless one runs there;
#                                       sets bench_started_kafka=1 when it started it
#   bench_warm_up FUNCTION              when bench_start_kafka started the broker: calls
#                                       FUNCTION once for the first build at the highest rate
#                                       for $BENCH_WARMUP s (default 60, 0 skips it) into
#                                       $out/warm-up, left out of the results: a new broker's
#                                       JIT compiler takes CPU from the first runs' servers
#   bench_wait_ready URL PID ERRFILE    waits up to 30 s for URL/readyz to answer 200; if the
#                                       process ends or time runs out, prints ERRFILE, fails
#   bench_ticks PID ...                 CPU clock ticks the processes have used so far
#   bench_idle_ticks                    the machine's idle clock ticks so far
#   bench_cpu_seconds BEFORE AFTER      "%.2f " per pair of the two space-separated tick lists

# Ports below Linux's ephemeral range, so the load generator's connections never take them.
export ONBOARD_KAFKA_PORT_BASE=21091 ONBOARD_KAFKA_RUN_DIR=/tmp/onboard-kafka-bench
bench_brokers=127.0.0.1:21092
bench_started_kafka=0

bench_parse_args() {
  local usage_lines=$1
  shift
  builds=()
  while (($#)) && [[ $1 != -- ]]; do
    [[ $1 == *=* ]] || bench_usage "$usage_lines"
    builds+=("${1%%=*}=$(realpath "${1#*=}")")
    shift
  done
  (($# > 1)) && [[ $1 == -- ]] || bench_usage "$usage_lines"
  shift
  rates=("$@")
  ((${#builds[@]})) || bench_usage "$usage_lines"
}

bench_usage() {
  sed -n "2,${1}p" "$0" >&2
  exit 2
}

bench_each_run() {
  local each=$1 build
  run=0
  for rate in "${rates[@]}"; do
    for build in "${builds[@]}"; do
      name=${build%%=*}
      bin=${build#*=}
      run=$((run + 1))
      tag="$name-$rate-$run"
      dir="$out/$tag"
      mkdir -p "$dir"
      "$each"
    done
  done
}

bench_start_kafka() {
  if ! scripts/kafka.sh status >/dev/null 2>&1; then
    bench_started_kafka=1
    scripts/kafka.sh start --nodes 1 >&2
  fi
}

bench_warm_up() {
  local each=$1 warm_up=${BENCH_WARMUP:-60}
  ((bench_started_kafka && warm_up > 0)) || return 0
  local measured_out=$out measured_seconds=$seconds
  out=$measured_out/warm-up seconds=$warm_up run=0
  rate=$(printf '%s\n' "${rates[@]}" | sort -n | tail -1)
  name=${builds[0]%%=*} bin=${builds[0]#*=} tag=warm-up dir=$out/warm-up
  mkdir -p "$dir"
  echo "== warming up the new broker: $tag, $rate/s for $seconds s, not reported" >&2
  "$each"
  out=$measured_out seconds=$measured_seconds
}

bench_wait_ready() {
  local url=$1 pid=$2 errors=$3
  for _ in $(seq 3000); do
    curl -fs -o /dev/null "$url/readyz" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  cat "$errors" >&2
  echo "$(basename "$0"): the server did not become ready" >&2
  return 1
}

bench_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

bench_idle_ticks() { awk '/^cpu /{print $5}' /proc/stat; }

bench_cpu_seconds() {
  local -a before after
  read -r -a before <<<"$1"
  read -r -a after <<<"$2"
  local hz i
  hz=$(getconf CLK_TCK)
  for i in "${!before[@]}"; do
    awk -v a="${before[$i]}" -v b="${after[$i]}" -v hz="$hz" 'BEGIN { printf "%.2f ", (b - a) / hz }'
  done
}
