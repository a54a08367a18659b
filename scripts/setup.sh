#!/usr/bin/env bash
# Installs what Switchboard's tests and demo need and that cargo does not fetch:
# the pinned codex CLI (npm package @openai/codex) into .tools/codex, git-ignored.
# Safe to run again: it does nothing when the pinned version is already there.
set -euo pipefail

CODEX_VERSION="0.169.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.tools/codex"

case "$(uname -m)" in
  x86_64) package="codex-linux-x64"; triple="x86_64-unknown-linux-musl" ;;
  aarch64|arm64) package="codex-linux-arm64"; triple="aarch64-unknown-linux-musl" ;;
  *) echo "setup: no prebuilt codex for $(uname -m)" >&2; exit 1 ;;
esac
bin="$prefix/node_modules/@openai/$package/vendor/$triple/bin/codex"

have_version() {
  [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "codex-cli $CODEX_VERSION"
}

# tmux runs the console's end-to-end test; Debian has it.
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
  echo "setup: installing @openai/codex@$CODEX_VERSION into .tools/codex" >&2
  mkdir -p "$prefix"
  npm install --no-audit --no-fund --loglevel=error --prefix "$prefix" "@openai/codex@$CODEX_VERSION" >&2
  have_version || { echo "setup: codex $CODEX_VERSION did not install at $bin" >&2; exit 1; }
fi
echo "$bin"
