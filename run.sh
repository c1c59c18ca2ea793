#!/bin/sh
# run.sh [MODEL.gguf] [hearth run options] - sets up, builds and runs
# `hearth run`: an interactive chat, or a completion with -p.
set -eu
cd "$(dirname "$0")"
./scripts/setup.sh
./scripts/build.sh build
exec ./build/hearth run "$@"
