#!/usr/bin/env bash
# Browser tests drive Debian's chromium. Install it when we can (root + apt);
# otherwise the browser tests skip with a visible reason (and fail under CI=true).
set -u
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing chromium for the browser tests (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null \
    && exit 0
  echo "apt-get could not install chromium." >&2
fi
echo "chromium is not installed: browser tests will be skipped." >&2
exit 0
