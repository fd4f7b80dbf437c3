#!/usr/bin/env bash
# Checks the files under deploy/: the AWS template with cfn-lint (scripts/cfn-lint.sh), and the
# monitoring files: the Prometheus alert rules with `promtool check
# rules` (Debian's prometheus package, installed here when missing) and the Grafana dashboard as
# JSON. That every metric they name is one Onboard registers is a unit test (src/telemetry.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "promtool is missing: install Debian's prometheus package" >&2
    exit 1
  fi
fi
promtool check rules deploy/prometheus/*.yml
python3 -m json.tool deploy/grafana/onboard-dashboard.json >/dev/null
echo "deploy/grafana/onboard-dashboard.json: valid JSON"
# The CloudFormation template of the AWS deployment (docs/aws.md): written by
# scripts/aws-template.py (the committed file must be its output), then cfn-lint, pinned,
# installed into its own virtualenv by the script.
if ! python3 scripts/aws-template.py | diff -q - deploy/aws/cloudformation-msk-websocket.yaml >/dev/null; then
  echo "deploy/aws/cloudformation-msk-websocket.yaml is not what scripts/aws-template.py writes:" >&2
  echo "  python3 scripts/aws-template.py > deploy/aws/cloudformation-msk-websocket.yaml" >&2
  exit 1
fi
scripts/cfn-lint.sh deploy/aws/cloudformation-msk-websocket.yaml
