#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs ruff and every test.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# The browser tests drive Debian's Chromium; install it when missing and we may.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests ..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
      || echo "warning: could not install chromium; browser tests will fail in CI"
  else
    echo "warning: /usr/bin/chromium is missing and cannot be installed here (needs root and apt-get)"
  fi
fi
.venv/bin/ruff check .
.venv/bin/vocbot intents check
exec .venv/bin/python -m pytest "$@"
