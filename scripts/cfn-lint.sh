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

CFN_LINT_VERSION=1.51.0
TOOLS_DIR=${ONBOARD_TOOLS_DIR:-$HOME/.cache/onboard-tools}
VENV="$TOOLS_DIR/cfn-lint-$CFN_LINT_VERSION"

die() {
  echo "cfn-lint.sh: $*" >&2
  exit 1
}

install() {
  [[ -x "$VENV/bin/cfn-lint" ]] && return 0
  command -v python3 >/dev/null || die "python3 is needed to run cfn-lint"
  echo "cfn-lint.sh: installing cfn-lint $CFN_LINT_VERSION into $VENV" >&2
  mkdir -p "$TOOLS_DIR"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" >&2
  [[ -x "$VENV/bin/cfn-lint" ]] || die "cfn-lint installed without its command"
}

case "${1:-}" in
  install) install ;;
  *)
    install
    if (($# == 0)); then
      set -- deploy/aws/*.yaml
    fi
    # Errors fail the check; warnings and informational findings are printed only.
    "$VENV/bin/cfn-lint" --non-zero-exit-code error -- "$@"
    echo "cfn-lint $CFN_LINT_VERSION: $* has no errors"
    ;;
esac
