#!/usr/bin/env bash
# Runs paysync against a local fake Stripe: localstripe (in memory, loopback only), seeded through the
# official stripe SDK with customers, charges, refunds, failed payments and subscriptions, whose
# webhooks paysync verifies and stores; then a backfill and the status. Ctrl-C stops everything.
#   ./scripts/dev.sh [customers]        (default 200)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
customers="${1:-200}"

scripts/venv.sh
cargo build --release -p paysync
bin="$root/target/release/paysync"
work="$root/target/dev"
rm -rf "$work" && mkdir -p "$work"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

.venv/bin/python scripts/localstripe_serve.py --port 0 > "$work/localstripe.out" &
pids+=($!)
for _ in $(seq 100); do grep -q LISTENING "$work/localstripe.out" 2>/dev/null && break; sleep 0.1; done
stripe_port="$(awk '/LISTENING/ {print $2}' "$work/localstripe.out")"
listen="${PAYSYNC_DEV_LISTEN:-127.0.0.1:8080}"

cat > "$work/paysync.toml" <<TOML
[server]
listen = "$listen"
[store]
path = "$work/paysync.db"
[stripe]
catchup_interval_secs = 30
[[stripe.accounts]]
name = "main"
mode = "test"
api_key = "env:STRIPE_API_KEY"
webhook_secrets = ["env:STRIPE_WEBHOOK_SECRET"]
api_base = "http://127.0.0.1:$stripe_port"
TOML
export STRIPE_API_KEY=sk_test_paysync_dev STRIPE_WEBHOOK_SECRET=whsec_paysync_dev
export PAYSYNC_CONFIG="$work/paysync.toml"

"$bin" serve 2> "$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://$listen/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

.venv/bin/python scripts/stripe_seed.py --api-base "http://127.0.0.1:$stripe_port" \
    --customers "$customers" --manifest "$work/manifest.json" \
    --webhook-url "http://$listen/webhooks/stripe/main" --webhook-secret "$STRIPE_WEBHOOK_SECRET"
sleep 2  # localstripe sends each webhook about a second after its event
"$bin" backfill
"$bin" status
cat <<MSG

paysync is serving on http://$listen
  webhooks: POST http://$listen/webhooks/stripe/main   status: http://$listen/status
  config:   $work/paysync.toml   database: $work/paysync.db   log: $work/serve.log
  try:      PAYSYNC_CONFIG=$work/paysync.toml STRIPE_API_KEY=$STRIPE_API_KEY STRIPE_WEBHOOK_SECRET=$STRIPE_WEBHOOK_SECRET $bin status
Ctrl-C to stop.
MSG
wait "${pids[1]}"
