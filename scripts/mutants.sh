#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of the roles the end-to-end suite guards: every mutant of
# src/roles/gateway, src/roles/consumer, src/roles/notify and src/roles/api/step.rs is built and
# the e2e suite run against it; a mutant the suite does not catch ("missed") is a hole in the tests.
#
#   scripts/mutants.sh                                   all four (hours on a small machine)
#   scripts/mutants.sh --file src/roles/api/step.rs      one slice; any other cargo-mutants option
#                                                        (--timeout, --jobs, --list, -re REGEX) passes through
#
# Installs cargo-mutants from crates.io when it is missing. Results: mutants.out/ (caught.txt,
# missed.txt, timeout.txt, unviable.txt, outcomes.json, and caught-by.txt: the counts, then
# every mutant with the e2e tests that failed against it). The suite runs on SQLite and the embedded
# bus: the variables that switch it to PostgreSQL or Kafka are cleared.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
  echo "mutants.sh: installing cargo-mutants from crates.io" >&2
  cargo install --locked cargo-mutants
fi

unset ONBOARD_TEST_STORE ONBOARD_TEST_BUS DATABASE_URL KAFKA_BROKERS

files=()
if ! printf '%s\n' "$@" | grep -qx -- '--file\|-f'; then
  files=(--file 'src/roles/gateway/**' --file 'src/roles/consumer/**' --file 'src/roles/notify/**'
    --file src/roles/api/step.rs)
fi

# Only the e2e suite judges the mutants (the unit tests of a module would catch some, but the
# question is what the end-to-end behaviour checks miss). cargo-mutants exits non-zero when a
# mutant is missed; the summary is printed either way, then that status is returned.
status=0
cargo mutants "${files[@]}" "$@" -- --test e2e || status=$?
out=mutants.out
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -o | --output) out="${args[i + 1]}/mutants.out" ;;
  esac
done
if [[ -f "$out/outcomes.json" ]]; then
  # Counts, then each mutant with the tests that caught it.
  python3 scripts/lib/mutants-caught-by.py "$out" > "$out/caught-by.txt"
  head -1 "$out/caught-by.txt"
  echo "mutants.sh: which tests caught each mutant: $out/caught-by.txt"
fi
exit "$status"
