#!/usr/bin/env bash
# The main job, ready to run: the real codex on the embedded scripted model, answering
# the example catalog's tool calls with its script handlers.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
codex_bin="$(bash scripts/setup.sh)"
export SWITCHBOARD_CODEX_BIN="$codex_bin"
cargo build --release --quiet
exec target/release/switchboard exec --scripted-model --catalog assets/support.toml \
  "${@:-Look up ticket T-1 and search the knowledge base: call:lookup_ticket call:search_kb call:service_status}"
