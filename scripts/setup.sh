#!/usr/bin/env bash
# Installs what Switchboard's tests and demo need and that cargo does not fetch: the codex
# CLI (npm package @openai/codex), git-ignored under .tools/, and tmux.
#
#   scripts/setup.sh            the pinned codex into .tools/codex
#   scripts/setup.sh VERSION    another codex (the suite also runs on 0.169.0) into
#                               .tools/codex-VERSION
#
# Prints the path of the native codex binary. Safe to run again: it does nothing when
# that version is already there.
set -euo pipefail

PINNED_VERSION="0.171.0"
version="${1:-$PINNED_VERSION}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$version" = "$PINNED_VERSION" ]; then
  prefix="$root/.tools/codex"
else
  prefix="$root/.tools/codex-$version"
fi

case "$(uname -m)" in
  x86_64) package="codex-linux-x64"; triple="x86_64-unknown-linux-musl" ;;
  aarch64|arm64) package="codex-linux-arm64"; triple="aarch64-unknown-linux-musl" ;;
  *) echo "setup: no prebuilt codex for $(uname -m)" >&2; exit 1 ;;
esac
bin="$prefix/node_modules/@openai/$package/vendor/$triple/bin/codex"

have_version() {
  [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "codex-cli $version"
}

# tmux runs the console's end-to-end tests; Debian has it.
if ! command -v tmux >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing tmux" >&2
    (apt-get install -y -qq tmux >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq tmux; }) >&2
  else
    echo "setup: tmux is needed for the console's end-to-end test; install it (apt-get install tmux)" >&2
    exit 1
  fi
fi

if ! have_version; then
  for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "setup: $tool is required to install codex" >&2; exit 1; }
  done
  echo "setup: installing @openai/codex@$version into ${prefix#"$root"/}" >&2
  mkdir -p "$prefix"
  npm install --no-audit --no-fund --loglevel=error --prefix "$prefix" "@openai/codex@$version" >&2
  have_version || { echo "setup: codex $version did not install at $bin" >&2; exit 1; }
fi
echo "$bin"
