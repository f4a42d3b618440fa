#!/usr/bin/env bash
# Dependency audit with cargo-deny (deny.toml): licences, duplicate versions and sources always;
# advisories against the RustSec database, which cargo-deny clones from GitHub. Where GitHub
# cannot be reached (some build machines have no route to it) the advisory check is reported as
# skipped, loudly; wherever it runs, a failing advisory fails this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo deny --version >/dev/null 2>&1; then
    echo "deny.sh: installing cargo-deny (once per machine)" >&2
    cargo install cargo-deny --locked --version 0.20.2
fi
cargo deny check bans licenses sources
if timeout 30 git ls-remote --exit-code https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
    cargo deny check advisories
else
    echo "deny.sh: ADVISORIES NOT CHECKED: github.com (the RustSec database) is unreachable from this machine" >&2
fi
