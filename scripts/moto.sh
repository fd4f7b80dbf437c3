#!/usr/bin/env bash
# A local AWS for development and CI: moto in server mode (PyPI), which answers DynamoDB, SNS,
# SQS, S3, Cognito user pools and the API Gateway management API on one port. The official SDKs
# reach it through their own variable, AWS_ENDPOINT_URL.
#
#   scripts/moto.sh install  install moto (pinned) into its own virtualenv; safe to run again
#   scripts/moto.sh start    install if missing, start the server, wait until it answers
#   scripts/moto.sh env      print the exports that point the SDKs at it (eval it)
#   scripts/moto.sh reset    forget every resource (moto's reset API), keeping the server
#   scripts/moto.sh status   exit 0 when the server answers
#   scripts/moto.sh stop     stop the server and delete its run directory
#
# ONBOARD_MOTO_DIR (default /tmp/onboard-moto) and ONBOARD_MOTO_PORT (default 55500) choose where;
# ONBOARD_TOOLS_DIR (default ~/.cache/onboard-tools) holds the virtualenv. The credentials it
# prints are moto's dummies: moto accepts any key, and real AWS never sees them.
set -euo pipefail
# shellcheck source=lib/pip-tool.sh
source "$(dirname "$0")/lib/pip-tool.sh"

MOTO_VERSION=5.2.5
RUN_DIR=${ONBOARD_MOTO_DIR:-/tmp/onboard-moto}
PORT=${ONBOARD_MOTO_PORT:-55500}
HOST=127.0.0.1
LOG="$RUN_DIR/server.log"
PID_FILE="$RUN_DIR/pid"
URL="http://$HOST:$PORT"

die() {
  echo "moto.sh: $*" >&2
  exit 1
}

install() {
  pip_tool_install moto.sh "moto[server]" "$MOTO_VERSION" moto_server
  MOTO_SERVER=$PIP_TOOL_BIN
}

answers() {
  curl -fsS -o /dev/null --max-time 2 "$URL/moto-api/data.json" 2>/dev/null
}

start() {
  install
  if answers; then
    echo "moto.sh: moto already answers on $URL" >&2
    return 0
  fi
  mkdir -p "$RUN_DIR"
  chmod 700 "$RUN_DIR"
  nohup "$MOTO_SERVER" -H "$HOST" -p "$PORT" >"$LOG" 2>&1 &
  echo $! >"$PID_FILE"
  local tries=0
  until answers; do
    tries=$((tries + 1))
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      die "the server exited; see $LOG"
    fi
    ((tries < 120)) || die "the server does not answer on $URL; see $LOG"
    sleep 0.25
  done
  echo "moto.sh: moto $MOTO_VERSION is running on $URL" >&2
}

stop() {
  if [[ -f "$PID_FILE" ]]; then
    local pid
    pid=$(cat "$PID_FILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$RUN_DIR"
  echo "moto.sh: stopped and removed $RUN_DIR" >&2
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  reset)
    answers || die "not running: run scripts/moto.sh start first"
    curl -fsS -X POST -o /dev/null "$URL/moto-api/reset"
    ;;
  status)
    if answers; then
      echo "running on $URL"
    else
      echo "not running"
      exit 1
    fi
    ;;
  env)
    answers || die "not running: run scripts/moto.sh start first"
    echo "export AWS_ENDPOINT_URL=$URL"
    echo "export AWS_REGION=\${AWS_REGION:-us-east-1}"
    echo "export AWS_ACCESS_KEY_ID=testing"
    echo "export AWS_SECRET_ACCESS_KEY=testing"
    echo "export ONBOARD_MOTO_URL=$URL"
    ;;
  *)
    echo "usage: $0 install|start|stop|reset|status|env" >&2
    exit 2
    ;;
esac
