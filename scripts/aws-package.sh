#!/usr/bin/env bash
# Builds the Lambda package of Onboard: target/lambda/onboard/bootstrap.zip, the `onboard` binary
# named `bootstrap` for the provided.al2023 runtime (x86_64, glibc 2.34), which every function of
# deploy/aws/cloudformation-msk-websocket.yaml runs (docs/aws.md).
#
#   scripts/aws-package.sh          install the tools if missing, build, check, zip
#   scripts/aws-package.sh install  only install the tools
#
# The tools, pinned, installed here: cargo-zigbuild (crates.io, into ONBOARD_TOOLS_DIR/cargo)
# and zig (PyPI's ziglang, into a virtualenv), so the binary links against glibc 2.34 whatever
# the build host has. OpenSSL (librdkafka's TLS) and zlib are built from source and linked
# statically (rdkafka/ssl-vendored, rdkafka/libz-static): a host build links the host's
# libssl.so.3, libcrypto.so.3 and libz.so.1, which provided.al2023 may lack or have older.
# After the build, every GLIBC symbol version the binary needs is checked to be <= 2.34
# (objdump -T) and its shared libraries to be ones provided.al2023 has.
#
# A release build is long and CPU-heavy: it runs under `nice -n 19`. Not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_ZIGBUILD_VERSION=0.20.1
ZIGLANG_VERSION=0.13.0
GLIBC_MAX=2.34
# Lambda's limit on a function's unzipped code (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
LAMBDA_MAX_UNZIPPED=$((250 * 1024 * 1024))
TARGET=x86_64-unknown-linux-gnu
TOOLS_DIR=${ONBOARD_TOOLS_DIR:-$HOME/.cache/onboard-tools}
ZIG_VENV="$TOOLS_DIR/ziglang-$ZIGLANG_VERSION"
CARGO_TOOLS="$TOOLS_DIR/cargo-zigbuild-$CARGO_ZIGBUILD_VERSION"
OUT_DIR=target/lambda/onboard
# librdkafka 2.12 includes <curl/curl.h> even when built without curl (its config header defines
# WITH_OAUTHBEARER_OIDC as 0 and rdkafka_conf.c tests it with #ifdef), and zig's compiler does not
# search the host's include directories. Only the headers are used: nothing links libcurl
# (check_binary refuses a libcurl dependency).
CURL_HEADERS=/usr/include/x86_64-linux-gnu
# Libraries the provided.al2023 image has (glibc's own and the C runtime).
ALLOWED_LIBS='^(libc|libm|libdl|libpthread|librt|libgcc_s|ld-linux-x86-64)\.so'

die() {
  echo "aws-package.sh: $*" >&2
  exit 1
}

install() {
  if ! "$ZIG_VENV/bin/python3" -m ziglang version >/dev/null 2>&1; then
    command -v python3 >/dev/null || die "python3 is needed to install zig"
    echo "aws-package.sh: installing ziglang $ZIGLANG_VERSION into $ZIG_VENV" >&2
    rm -rf "$ZIG_VENV"
    python3 -m venv "$ZIG_VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$ZIG_VENV/bin/pip" install -q --disable-pip-version-check "ziglang==$ZIGLANG_VERSION" >&2
  fi
  if [[ ! -x "$CARGO_TOOLS/bin/cargo-zigbuild" ]]; then
    echo "aws-package.sh: installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION into $CARGO_TOOLS" >&2
    cargo install --locked --quiet --root "$CARGO_TOOLS" \
      cargo-zigbuild --version "=$CARGO_ZIGBUILD_VERSION"
  fi
  if [[ ! -f "$CURL_HEADERS/curl/curl.h" ]]; then
    if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libcurl4-openssl-dev >/dev/null
    fi
    [[ -f "$CURL_HEADERS/curl/curl.h" ]] || die "curl's headers are needed (Debian: apt-get install libcurl4-openssl-dev)"
  fi
  command -v objdump >/dev/null || die "objdump is needed to check the binary (Debian: binutils)"
  command -v zip >/dev/null || die "zip is needed to package the binary (Debian: zip)"
  rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET"
}

# Fails unless every GLIBC_x.y the binary asks for is at most GLIBC_MAX, and it needs no shared
# library outside glibc's.
check_binary() {
  local binary=$1 newest libs
  newest=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  [[ -n "$newest" ]] || die "$binary has no GLIBC symbol versions: not a glibc binary?"
  if [[ "$(printf '%s\n%s\n' "$newest" "$GLIBC_MAX" | sort -V | tail -1)" != "$GLIBC_MAX" ]]; then
    die "$binary needs GLIBC_$newest, newer than provided.al2023's $GLIBC_MAX"
  fi
  libs=$(objdump -p "$binary" | awk '/NEEDED/ {print $2}')
  if grep -Ev "$ALLOWED_LIBS" <<<"$libs" | grep -q .; then
    die "$binary needs libraries provided.al2023 may lack: $(grep -Ev "$ALLOWED_LIBS" <<<"$libs" | tr '\n' ' ')"
  fi
  echo "aws-package.sh: $binary needs at most GLIBC_$newest (<= $GLIBC_MAX) and only: $(tr '\n' ' ' <<<"$libs")" >&2
}

build() {
  install
  export PATH="$ZIG_VENV/bin:$CARGO_TOOLS/bin:$PATH"
  # Without a `zig` command, cargo-zigbuild runs `python3 -m ziglang`: the virtualenv's, first
  # on PATH.
  # The curl headers alone, in a folder of their own, so no other host header shadows zig's.
  local curl_only="$TOOLS_DIR/curl-headers"
  mkdir -p "$curl_only"
  ln -sfn "$CURL_HEADERS/curl" "$curl_only/curl"
  CFLAGS_x86_64_unknown_linux_gnu="-I$curl_only" \
  nice -n 19 cargo zigbuild --release --locked --bin onboard \
    --features rdkafka/ssl-vendored,rdkafka/libz-static --target "$TARGET.$GLIBC_MAX"
  local binary="target/$TARGET/release/onboard"
  check_binary "$binary"
  rm -rf "$OUT_DIR"
  mkdir -p "$OUT_DIR"
  # The release profile keeps debug info for profiling (about 340 MB); Lambda takes at most
  # 250 MB unzipped, so the package drops it and keeps the symbol table (named backtraces).
  objcopy --strip-debug "$binary" "$OUT_DIR/bootstrap"
  chmod 755 "$OUT_DIR/bootstrap"
  local size
  size=$(stat -c %s "$OUT_DIR/bootstrap")
  ((size <= LAMBDA_MAX_UNZIPPED)) || die "bootstrap is $size bytes, over Lambda's $LAMBDA_MAX_UNZIPPED unzipped"
  (cd "$OUT_DIR" && zip -q -X bootstrap.zip bootstrap)
  echo "aws-package.sh: $OUT_DIR/bootstrap.zip ($(du -h "$OUT_DIR/bootstrap.zip" | cut -f1)) for provided.al2023"
}

case "${1:-}" in
  install) install ;;
  "") build ;;
  *)
    echo "usage: $0 [install]" >&2
    exit 2
    ;;
esac
