#!/usr/bin/env bash
# cfn-lint (PyPI, pinned) in its own virtualenv, for the CloudFormation template under
# deploy/aws/. scripts/check-deploy.sh runs it (and so scripts/test.sh and CI).
#
#   scripts/cfn-lint.sh install      install cfn-lint into the virtualenv; safe to run again
#   scripts/cfn-lint.sh [FILE...]    install if missing, then lint FILEs (default: deploy/aws/*.yaml)
#
# ONBOARD_TOOLS_DIR (default ~/.cache/onboard-tools) holds the virtualenv, as for moto.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/pip-tool.sh
source scripts/lib/pip-tool.sh

CFN_LINT_VERSION=1.51.0

install() {
  pip_tool_install cfn-lint.sh cfn-lint "$CFN_LINT_VERSION" cfn-lint
}

case "${1:-}" in
  install) install ;;
  *)
    install
    if (($# == 0)); then
      set -- deploy/aws/*.yaml
    fi
    # Errors fail the check; warnings and informational findings are printed only.
    "$PIP_TOOL_BIN" --non-zero-exit-code error -- "$@"
    echo "cfn-lint $CFN_LINT_VERSION: $* has no errors"
    ;;
esac
