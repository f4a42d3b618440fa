#!/usr/bin/env python3
"""Compute a `Stripe-Signature` header with the official stripe SDK's own code.

Single payload (the exact bytes on stdin, UTF-8, trailing newline included if present):
    printf '%s' "$BODY" | .venv/bin/python scripts/stripe_sign.py --secret whsec_x --timestamp 1700000000
    -> t=1700000000,v1=5f0c...           (one line on stdout)
  --secret may be repeated: one v1= entry per secret, in order, as Stripe sends while a
  secret is being rolled. --timestamp defaults to now.

Many payloads in one process (for tests that sign a lot):
    .venv/bin/python scripts/stripe_sign.py --many < requests.jsonl
  each input line: {"payload": "<exact body>", "secret": "whsec_..." | ["s1", "s2"],
                    "timestamp": 1700000000}       (timestamp optional: now)
  each output line, same order, flushed per line (so it can be driven line by line over a pipe):
    {"header": "t=...,v1=..."}
  A payload given as a JSON object/array instead of a string is serialised compactly
  (separators ",", ":"); the exact string signed is then echoed back as "payload".
  A bad line gets {"error": "..."} and the run goes on; exit status 1 if any line failed.

Signing: stripe.WebhookSignature.generate_signature_header (stripe/_webhook.py), which is
`t=<ts>,v1=` + WebhookSignature._compute_signature(f"{ts}.{payload}", secret), i.e.
HMAC-SHA256 hex. Extra secrets add `,v1=` + _compute_signature(...) of the same string.
Self-check before printing: stripe.Webhook.construct_event(payload, header, secret,
tolerance=None) for every secret (tolerance off, so old timestamps are fine); for payloads
that are not a JSON object (construct_event parses the body as an event) stripe.WebhookSignature.verify_header
is used instead.
"""

import argparse
import json
import sys
import time

import stripe
from stripe import Webhook, WebhookSignature


def sign(payload: str, secrets, timestamp: int) -> str:
    if not secrets:
        raise ValueError("no secret")
    header = WebhookSignature.generate_signature_header(payload, secrets[0], timestamp=timestamp)
    for extra in secrets[1:]:
        sig = WebhookSignature._compute_signature(f"{timestamp}.{payload}", extra)
        header += f",{WebhookSignature.EXPECTED_SCHEME}={sig}"
    # Self-check with the SDK's verifier, for every secret.
    try:
        is_event_like = isinstance(json.loads(payload), dict)
    except ValueError:
        is_event_like = False
    for secret in secrets:
        if is_event_like:
            Webhook.construct_event(payload, header, secret, tolerance=None)
        else:
            WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    return header


def as_secrets(value):
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(s, str) for s in value):
        return value
    raise ValueError("secret must be a string or a non-empty list of strings")


def run_many() -> int:
    status = 0
    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("line is not a JSON object")
            payload = req.get("payload")
            out = {}
            if isinstance(payload, (dict, list)):
                payload = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
                out["payload"] = payload
            elif not isinstance(payload, str):
                raise ValueError("payload must be a string (or a JSON object/array)")
            ts = req.get("timestamp")
            ts = int(time.time()) if ts is None else int(ts)
            out = {"header": sign(payload, as_secrets(req.get("secret")), ts), **out}
        except Exception as e:  # noqa: BLE001 - reported per line
            status = 1
            out = {"error": f"line {lineno}: {type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return status


def main() -> int:
    sys.stdin.reconfigure(encoding="utf-8")
    sys.stdout.reconfigure(encoding="utf-8")
    ap = argparse.ArgumentParser(description="Stripe-Signature via the official stripe SDK")
    ap.add_argument("--secret", action="append", help="webhook secret (repeatable)")
    ap.add_argument("--timestamp", type=int, help="unix seconds for t= (default: now)")
    ap.add_argument("--many", action="store_true", help="JSON lines in, JSON lines out")
    args = ap.parse_args()
    if args.many:
        if args.secret or args.timestamp is not None:
            ap.error("--many takes secret/timestamp per line, not as options")
        return run_many()
    if not args.secret:
        ap.error("--secret is required (unless --many)")
    raw = sys.stdin.buffer.read()
    try:
        payload = raw.decode("utf-8")
    except UnicodeDecodeError:
        print("stripe_sign: payload on stdin is not UTF-8", file=sys.stderr)
        return 1
    ts = int(time.time()) if args.timestamp is None else args.timestamp
    try:
        header = sign(payload, args.secret, ts)
    except stripe.SignatureVerificationError as e:
        print(f"stripe_sign: self-check failed: {e}", file=sys.stderr)
        return 1
    print(header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
