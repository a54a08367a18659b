#!/usr/bin/env bash
# The main job, ready to run: the console on the real codex and the embedded scripted
# model, with the example catalog (some tools answered by script handlers, one by you).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
codex_bin="$(bash scripts/setup.sh)"
export SWITCHBOARD_CODEX_BIN="$codex_bin"
cargo build --release --quiet
exec target/release/switchboard demo "$@"
