#!/usr/bin/env bash
# Installs the mock 3270/5250 hosts the driver tests run as separate processes: mainframe-mocker (MIT) in a
# venv of its own, .venv-hosts, because it needs Python >= 3.12 while hostgate supports 3.11. The hosts run
# as processes, so hostgate itself never imports it. Idempotent: a stamp records what is installed.
#
# The interpreter, in order: pyenv's 3.12 (~/.pyenv/versions/3.12.*), python3.12 on PATH, any newer pyenv or
# python3.1x, the system python3 if it is 3.12+; else, on Debian, apt's python3 (3.13 on Debian 13; Debian 12 has only 3.11,
# and then this fails with a message saying so).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-hosts
# A symlink here that leads nowhere (a checkout once carried one) would make venv follow it: drop it.
if [ -L "$VENV" ] && [ ! -d "$VENV/" ]; then rm -f "$VENV"; fi
PACKAGES=(mainframe-mocker==0.1.8 jinja2==3.1.6 markupsafe==3.0.4)
STAMP="$VENV/.installed-$(printf '%s ' "${PACKAGES[@]}" | md5sum | cut -c1-12)"
[ -f "$STAMP" ] && exit 0

ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }

find_python() {
  local candidate
  # 3.12 first (what mainframe-mocker 0.1.8 is tested on), then any newer one.
  for candidate in $(ls -d "$HOME"/.pyenv/versions/3.12.*/bin/python3 2>/dev/null | sort -V -r) \
                   $(command -v python3.12 2>/dev/null || true) \
                   $(ls -d "$HOME"/.pyenv/versions/3.*/bin/python3 2>/dev/null | sort -V -r) \
                   $(command -v python3.14 python3.13 python3 2>/dev/null || true) /usr/bin/python3; do
    if [ -x "$candidate" ] && ok "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

PYTHON=$(find_python || true)
if [ -z "$PYTHON" ] && command -v apt-get >/dev/null 2>&1; then
  echo "hostgate: no Python >= 3.12 found for the test hosts; trying Debian's python3 and python3-venv"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  PYTHON=$(find_python || true)
fi
if [ -z "$PYTHON" ]; then
  echo "hostgate: the test hosts (mainframe-mocker) need Python >= 3.12, and none was found." >&2
  echo "  Debian 12's python3 is 3.11: install a 3.12+ with pyenv (pyenv install 3.12) or use Debian 13." >&2
  exit 1
fi

echo "hostgate: installing the test hosts into $VENV with $PYTHON ($("$PYTHON" -c 'import platform; print(platform.python_version())'))"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PACKAGES[@]}"
"$VENV/bin/python" -c 'import mfmock, sys; sys.exit(sys.version_info < (3, 12))'
touch "$STAMP"
