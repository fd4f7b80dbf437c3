#!/usr/bin/env bash
# Amazon's Lambda Runtime Interface Emulator (aws-lambda-rie), built from its Go module at a
# pinned version into the tools directory; the Lambda tests (tests/lambda) run every handler
# under it.
#
#   scripts/lambda-rie.sh install   build it if missing (needs Go); safe to run again
#   scripts/lambda-rie.sh path      install if missing, then print the binary's path
#
# ONBOARD_TOOLS_DIR (default ~/.cache/onboard-tools) holds it.
set -euo pipefail

MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
VERSION=v0.0.0-20261030222936-bef5c4ba774d
TOOLS_DIR=${ONBOARD_TOOLS_DIR:-$HOME/.cache/onboard-tools}
BIN_DIR="$TOOLS_DIR/aws-lambda-rie-$VERSION"
BIN="$BIN_DIR/aws-lambda-rie"

die() {
  echo "lambda-rie.sh: $*" >&2
  exit 1
}

install() {
  [[ -x "$BIN" ]] && return 0
  local go
  go=$(command -v go || true)
  [[ -z "$go" && -x /usr/local/go/bin/go ]] && go=/usr/local/go/bin/go
  [[ -n "$go" ]] || die "Go is needed to build aws-lambda-rie (https://go.dev/dl, or apt-get install golang-go)"
  echo "lambda-rie.sh: building aws-lambda-rie $VERSION into $BIN_DIR" >&2
  mkdir -p "$BIN_DIR"
  GOBIN="$BIN_DIR" GOFLAGS=-mod=mod "$go" install "$MODULE/cmd/aws-lambda-rie@$VERSION" >&2
  [[ -x "$BIN" ]] || die "go install finished without $BIN"
}

case "${1:-path}" in
  install) install ;;
  path)
    install
    echo "$BIN"
    ;;
  *) die "usage: $0 install|path" ;;
esac
