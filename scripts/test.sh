#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, format check, clippy, all tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

codex_bin="$(bash scripts/setup.sh)"
export SWITCHBOARD_CODEX_BIN="$codex_bin"

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test" >&2
cargo test --all-targets --locked
