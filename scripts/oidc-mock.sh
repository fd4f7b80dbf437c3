#!/usr/bin/env bash
# A real OpenID Connect provider with a sign-in page for the web page's end-to-end tests:
# oidc-provider-mock (PyPI, pinned) in its own virtualenv. The test starts it on a free port.
#
#   scripts/oidc-mock.sh install   install it if missing; safe to run again
#   scripts/oidc-mock.sh path      print the path of its command (installing first)
#
# ONBOARD_TOOLS_DIR (default ~/.cache/onboard-tools) holds the virtualenv.
set -euo pipefail
# shellcheck source=lib/pip-tool.sh
source "$(dirname "$0")/lib/pip-tool.sh"

VERSION=0.3.4

install() {
  pip_tool_install oidc-mock.sh oidc-provider-mock "$VERSION" oidc-provider-mock
}

case "${1:-}" in
  install) install ;;
  path) install && echo "$PIP_TOOL_BIN" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
