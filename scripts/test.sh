#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, format check, clippy, all tests on the
# pinned codex, then the end-to-end tests again on the previous release that Switchboard
# still supports.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Also supported, and tested: the release before the pin.
COMPAT_CODEX_VERSION="0.169.0"

codex_bin="$(bash scripts/setup.sh)"
compat_bin="$(bash scripts/setup.sh "$COMPAT_CODEX_VERSION")"

# As root (CI), the full-disk tests must mount their small tmpfs, not skip; set
# SWITCHBOARD_REQUIRE_TMPFS=0 where root may not mount.
if [ "$(id -u)" = 0 ]; then
  export SWITCHBOARD_REQUIRE_TMPFS="${SWITCHBOARD_REQUIRE_TMPFS:-1}"
fi

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test ($("$codex_bin" --version))" >&2
SWITCHBOARD_CODEX_BIN="$codex_bin" cargo test --all-targets --locked
echo "== end-to-end tests again on $("$compat_bin" --version)" >&2
SWITCHBOARD_CODEX_BIN="$compat_bin" cargo test --test all --locked
