#!/usr/bin/env bash
# Installs what building Onboard needs besides Rust, idempotently: Debian's C toolchain, cmake
# and the headers librdkafka is compiled against (the rdkafka crate builds it from source).
# `scripts/up.sh`, `scripts/test.sh` and CI run it before their first `cargo` command; on a
# machine without one of these, the build would stop halfway with a compiler error.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/debian-packages.sh
source scripts/lib/debian-packages.sh

# librdkafka's config code includes curl.h even with curl support off, so curl's headers are
# needed although nothing links libcurl.
ensure_debian_packages build-deps.sh "building librdkafka (the rdkafka crate)" \
  gcc g++ make cmake pkg-config libssl-dev libcurl4-openssl-dev zlib1g-dev
