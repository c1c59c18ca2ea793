#!/bin/sh
# setup.sh - installs the system packages hearth needs, and nothing when they
# are already there. Debian/Ubuntu (apt-get) and macOS (Homebrew).
set -eu

DEB_PKGS="build-essential cmake pkg-config libjansson-dev libedit-dev libmicrohttpd-dev clang python3 python3-numpy"
BREW_PKGS="cmake pkg-config jansson libedit libmicrohttpd node"

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $DEB_PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing="$missing $p"
    fi
  done
  # Node.js runs the OpenAI-client tests; any install of it will do.
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
  if [ -n "$missing" ]; then
    echo "setup: installing$missing" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  fi
elif [ "$(uname -s)" = "Darwin" ]; then
  if ! command -v brew >/dev/null 2>&1; then
    echo "setup: Homebrew is needed on macOS (https://brew.sh)" >&2
    exit 1
  fi
  for p in $BREW_PKGS; do
    brew list --versions "$p" >/dev/null 2>&1 || brew install "$p"
  done
else
  echo "setup: unknown system; install a C11 compiler, cmake, pkg-config, jansson and libedit" >&2
fi
