#!/usr/bin/env bash
# Prepares the dashboard's browser tests (crates/paysync/tests/it/browser.rs), only when needed:
# - Debian's Chromium at /usr/bin/chromium (apt-get; as root, or through sudo);
# - playwright-core from tests/browser/package-lock.json (npm ci), re-run only when the lock
#   file's sha256 differs from the one kept in node_modules/.lock.sha256.
# Playwright never downloads a browser of its own: the tests launch /usr/bin/chromium.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

if ! [[ -x /usr/bin/chromium ]]; then
    as_root=()
    [[ "$(id -u)" == 0 ]] || as_root=(sudo -n)
    if ! { "${as_root[@]}" apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium; } \
            >"$log" 2>&1; then
        echo "browser.sh: installing Debian's chromium failed:" >&2
        cat "$log" >&2
        exit 1
    fi
fi

cd "$root/tests/browser"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp="node_modules/.lock.sha256"
if ! [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    if ! npm ci --no-audit --no-fund >"$log" 2>&1; then
        echo "browser.sh: npm ci in tests/browser failed:" >&2
        cat "$log" >&2
        exit 1
    fi
    echo "$want" >"$stamp"
fi
