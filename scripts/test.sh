#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs ruff, the import layering, pip-audit, the data check,
# the short load-and-kill run and every test.
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
# The layering of bot/ (docs/architecture.md): the import-linter contracts in pyproject.toml.
.venv/bin/lint-imports --no-cache
# Known vulnerabilities in the installed dependencies fail the run. pip-audit asks PyPI's JSON API
# (https://pypi.org/pypi/<name>/<version>/json); --strict turns "could not audit" into a failure too.
if [ "${VOCBOT_SKIP_AUDIT:-}" = 1 ]; then
  echo "warning: dependency audit skipped (VOCBOT_SKIP_AUDIT=1)"
else
  audit_log=$(mktemp)
  if ! .venv/bin/pip-audit --progress-spinner off --skip-editable --strict >"$audit_log" 2>&1; then
    if grep -q "could not be audited\|Connection\|Max retries" "$audit_log"; then
      # A network that blocks the vulnerability service is not a vulnerability: say so loudly, go on.
      echo "WARNING: pip-audit could not reach PyPI's vulnerability data (pypi.org JSON API), so NO dependency"
      echo "WARNING: was audited in this run. Allow HTTPS to pypi.org to audit; VOCBOT_SKIP_AUDIT=1 skips it."
      grep -m 3 "could not be audited\|Error" "$audit_log" || true
    else
      echo "error: pip-audit found known vulnerabilities in the installed dependencies:"
      cat "$audit_log"
      rm -f "$audit_log"
      exit 1
    fi
  fi
  rm -f "$audit_log"
fi
.venv/bin/vocbot intents check
# The load and fault runs are scripts (benchmarks/), run here in their short mode: 300 Telegram and 300
# web questions against `vocbot serve`, SIGKILLed half-way and restarted; exits 1 if any check fails.
.venv/bin/python benchmarks/load_faults.py --short --kill
# Two workers: most tests wait on servers, browsers and subprocesses, so two cut the wall time on two cores
# (317 s -> 196 s measured); each worker has its own temporary folders and ports.
exec .venv/bin/python -m pytest -n 2 "$@"
