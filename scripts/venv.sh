#!/usr/bin/env bash
# Creates <repo>/.venv and installs scripts/requirements.txt into it, only when needed:
# the sha256 of requirements.txt is kept in .venv/.requirements.sha256 and pip runs only when
# it differs (or the venv is missing/broken). Idempotent, quiet on success; on failure prints
# pip's output and exits non-zero. Safe to run concurrently (flock on .venv/.lock).
#
# Usage: scripts/venv.sh            the test harness: <repo>/.venv from requirements.txt
#        scripts/venv.sh schemathesis   <repo>/.venv-schemathesis from requirements-schemathesis.txt
#        (from anywhere; the repo root is found from this file)
# Env:   PAYSYNC_BOOTSTRAP_PYTHON   interpreter used to create the venv (default: python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
case "${1:-}" in
    "")
        venv="$root/.venv"
        req="$here/requirements.txt"
        smoke='import localstripe.server, stripe, aiohttp'
        ;;
    schemathesis)
        venv="$root/.venv-schemathesis"
        req="$here/requirements-schemathesis.txt"
        smoke='import schemathesis, openapi_spec_validator'
        ;;
    *)
        echo "venv.sh: unknown venv ${1}; known: (none) and schemathesis" >&2
        exit 2
        ;;
esac
stamp="$venv/.requirements.sha256"
bootstrap="${PAYSYNC_BOOTSTRAP_PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"

venv_ok() {
    [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1
}

# Fast path, no lock: venv works and was installed from this exact requirements.txt.
if venv_ok && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

mkdir -p "$venv"
exec 9>"$venv/.lock"
flock 9

# Re-check under the lock: another run may have finished the job meanwhile.
if venv_ok && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

if ! venv_ok; then
    # Missing or broken (e.g. its base interpreter went away): rebuild, keeping only the lock.
    find "$venv" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
    if ! "$bootstrap" -m venv "$venv" >"$log" 2>&1; then
        echo "venv.sh: '$bootstrap -m venv $venv' failed:" >&2
        cat "$log" >&2
        exit 1
    fi
fi

rm -f "$stamp"
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$req" >"$log" 2>&1; then
    echo "venv.sh: pip install -r $req failed:" >&2
    cat "$log" >&2
    exit 1
fi
# Smoke-check what the harness imports before declaring the venv good.
if ! "$venv/bin/python" -c "$smoke" >"$log" 2>&1; then
    echo "venv.sh: installed packages do not import:" >&2
    cat "$log" >&2
    exit 1
fi
echo "$want" >"$stamp"
