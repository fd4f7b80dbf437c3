#!/usr/bin/env bash
# Installs what the tests need besides Rust, idempotently: a Python virtual environment in
# .venv-test with aiosmtpd, the real SMTP server the notifier tests start (tests/notifiers).
set -euo pipefail
cd "$(dirname "$0")/.."
# Amazon's Lambda Runtime Interface Emulator for tests/lambda (built from its Go module).
scripts/lambda-rie.sh install
venv=.venv-test
if "$venv/bin/python3" -c 'import aiosmtpd' >/dev/null 2>&1; then
  exit 0
fi
python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "python3 is missing: the notifier tests need it (apt-get install python3 python3-venv)" >&2
  exit 1
fi
if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
  # Debian splits venv support into its own package.
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    "$python" -m venv "$venv"
  else
    echo "cannot create a Python virtual environment: install python3-venv" >&2
    exit 1
  fi
fi
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6'
"$venv/bin/python3" -c 'import aiosmtpd'
