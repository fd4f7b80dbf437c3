# Sourced by the scripts that need Debian packages: `ensure_debian_packages WHO WHY PACKAGE...`
# installs the packages of the list that are not installed, with apt-get (as root, or through
# sudo when it needs no password), and otherwise stops with one line naming the command to run.
# WHO names the calling script in messages, WHY says what the packages are for.

ensure_debian_packages() {
  local who=$1 why=$2
  shift 2
  local missing=() package
  if ! command -v dpkg-query >/dev/null; then
    echo "$who: not a Debian system, so not checked: $why needs $* (Debian's names) or their equivalents" >&2
    return 0
  fi
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  local command="apt-get install -y --no-install-recommends ${missing[*]}"
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "$who: $why needs Debian's ${missing[*]}: run as root, or: sudo $command" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "$who: $why needs ${missing[*]} (Debian's package names), and there is no apt-get here: install them" >&2
    return 1
  fi
  echo "$who: installing Debian's ${missing[*]} ($why)" >&2
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}
