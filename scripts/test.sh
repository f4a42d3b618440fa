#!/usr/bin/env bash
# The project's test command: ./scripts/test.sh [extra args for the test runner]
#
# 1. makes sure <repo>/.venv has the Python harness (scripts/venv.sh: localstripe, stripe SDK)
#    and <repo>/.venv-schemathesis the API contract checks (scripts/venv.sh schemathesis);
#    Chromium and playwright-core for the dashboard's browser test (scripts/browser.sh);
# 2. exports for the Rust tests:
#      PAYSYNC_PYTHON   <repo>/.venv/bin/python
#      PAYSYNC_SCRIPTS  <repo>/scripts   (localstripe_serve.py, stripe_seed.py, stripe_sign.py)
#      PAYSYNC_SCHEMATHESIS_PYTHON  <repo>/.venv-schemathesis/bin/python (the API contract checks)
#      PAYSYNC_TEST_DATABASE_URL  (default postgres://postgres@127.0.0.1:5432/test), which must
#      answer `select 1`: tests that need the database fail, they are never skipped;
# 3. runs `cargo nextest run --workspace --no-fail-fast "$@"` when cargo-nextest is installed,
#    else `cargo test --workspace "$@"`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/venv.sh
scripts/venv.sh schemathesis
scripts/browser.sh

export PAYSYNC_PYTHON="$root/.venv/bin/python"
export PAYSYNC_SCHEMATHESIS_PYTHON="$root/.venv-schemathesis/bin/python"
export PAYSYNC_SCRIPTS="$root/scripts"
export PAYSYNC_TEST_DATABASE_URL="${PAYSYNC_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

if ! command -v psql >/dev/null 2>&1; then
    echo "test.sh: psql not found; it is needed to check PAYSYNC_TEST_DATABASE_URL" \
         "(Debian: apt-get install postgresql-client)" >&2
    exit 1
fi
# -w: never prompt for a password (no terminal in CI); -X: ignore ~/.psqlrc.
if ! db_err="$(PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}" \
        psql -X -w -q -At "$PAYSYNC_TEST_DATABASE_URL" -c 'select 1' 2>&1 >/dev/null)"; then
    echo "test.sh: the test database is unreachable: PAYSYNC_TEST_DATABASE_URL=$PAYSYNC_TEST_DATABASE_URL" >&2
    echo "test.sh: psql said: ${db_err:-<nothing>}" >&2
    echo "test.sh: start PostgreSQL and create that database, or point PAYSYNC_TEST_DATABASE_URL" \
         "at one (tests need it and fail without it)." >&2
    exit 1
fi

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --workspace --no-fail-fast "$@"
else
    exec cargo test --workspace "$@"
fi
