#!/usr/bin/env bash
# A real OpenID Connect provider with a sign-in page for the web page's end-to-end tests:
# oidc-provider-mock (PyPI, pinned) in its own virtualenv. The test starts it on a free port.
#
#   scripts/oidc-mock.sh install   install it if missing; safe to run again
#   scripts/oidc-mock.sh path      print the path of its command (installing first)
#
# ONBOARD_TOOLS_DIR (default ~/.cache/onboard-tools) holds the virtualenv.
set -euo pipefail

VERSION=0.3.4
TOOLS_DIR=${ONBOARD_TOOLS_DIR:-$HOME/.cache/onboard-tools}
VENV="$TOOLS_DIR/oidc-provider-mock-$VERSION"
BIN="$VENV/bin/oidc-provider-mock"

install() {
  [[ -x "$BIN" ]] && return 0
  command -v python3 >/dev/null || { echo "oidc-mock.sh: python3 is needed" >&2; exit 1; }
  echo "oidc-mock.sh: installing oidc-provider-mock $VERSION into $VENV" >&2
  mkdir -p "$TOOLS_DIR"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "oidc-provider-mock==$VERSION" >&2
  [[ -x "$BIN" ]] || { echo "oidc-mock.sh: installed without its command" >&2; exit 1; }
}

case "${1:-}" in
  install) install ;;
  path) install && echo "$BIN" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
