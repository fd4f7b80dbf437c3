# Sourced by the scripts that run a pinned tool from PyPI (moto.sh, cfn-lint.sh, oidc-mock.sh):
# one virtualenv per tool and version under ONBOARD_TOOLS_DIR (default ~/.cache/onboard-tools).
#
#   pip_tool_install SCRIPT PACKAGE VERSION COMMAND
#
# installs PACKAGE==VERSION (a pip requirement such as `moto[server]`) unless COMMAND is already
# there, and sets PIP_TOOL_BIN to the command's path. SCRIPT names the caller in messages.

pip_tool_install() {
  local script=$1 package=$2 version=$3 command=$4
  local tools_dir=${ONBOARD_TOOLS_DIR:-$HOME/.cache/onboard-tools}
  local name=${package%%[*}
  local venv="$tools_dir/$name-$version"
  PIP_TOOL_BIN="$venv/bin/$command"
  [[ -x "$PIP_TOOL_BIN" ]] && return 0
  command -v python3 >/dev/null || { echo "$script: python3 is needed to run $name" >&2; exit 1; }
  echo "$script: installing $name $version into $venv" >&2
  mkdir -p "$tools_dir"
  rm -rf "$venv"
  python3 -m venv "$venv" || {
    echo "$script: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  "$venv/bin/pip" install -q --disable-pip-version-check "$package==$version" >&2
  [[ -x "$PIP_TOOL_BIN" ]] || { echo "$script: $name installed without its $command command" >&2; exit 1; }
}
