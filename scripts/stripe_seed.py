#!/usr/bin/env python3
"""Seed a running localstripe with realistic Stripe activity, using the official `stripe` SDK.

Usage:
    .venv/bin/python scripts/stripe_seed.py --api-base http://127.0.0.1:PORT \\
        --manifest out.json [--customers 200] [--seed 42] [--reset] \\
        [--webhook-url URL --webhook-secret SECRET [--webhook-name NAME] [--webhook-events a,b]]

What it creates (all choices from random.Random(seed), so the same seed gives the same shape):
  * one product and three plans (fixed ids, reused if they already exist);
  * N customers: names (some non-ASCII, a few missing), emails (mostly lowercase, some mixed
    case, a few exact duplicates shared by two customers, a few differing from another
    customer's only by case, a few missing), phones, addresses, metadata;
  * most get a working card (PaymentMethod 4242…, attached, set as the invoice default) and
    1–3 successful payments, ~70% via POST /v1/charges and ~30% via a confirmed PaymentIntent
    (which also creates a charge), in varied currencies and amounts;
  * refunds on some charges (full, partial, and a few charges with two partial refunds);
  * failed payments: customers whose card is 4000000000000341 (attaches, every charge fails and
    is stored with status=failed; the SDK raises CardError) and a few good customers with one
    extra failed attempt on such a card; a few customers whose card 4000000000000002 is
    declined on attach (no PaymentMethod, no charge);
  * subscriptions (items given as `plan`): each creates one invoice and, when paid, one
    charge; subscriptions of failing-card customers stay `incomplete` with an open invoice
    and a failed charge; some are cancelled;
  * some customers updated (email/name/metadata) and a few deleted at the end (their live
    subscriptions are cancelled first, as Stripe does on customer deletion).

Then it lists everything back through the SDK (auto-pagination; subscriptions with
status=all), compares with what it expected to exist (anything already in the store before the
run included) and writes the manifest from what the API returned. Exit status: 0 if the counts
match, 3 if they do not (manifest still written, see verification.mismatches), 1 on errors.
Prints one summary line on stdout.
"""

import argparse
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict

import requests
import stripe

CARD_OK = ["4242424242424242", "4000056655665556", "5555555555554444"]
CARD_CHARGE_FAILS = "4000000000000341"   # attaches; every charge fails (status=failed)
CARD_DECLINED_ON_ATTACH = "4000000000000002"  # 402 on attach; nothing stored

PRODUCT_ID = "prod_paysync_seed"
PLANS = [
    # id, nickname, currency, amount, interval
    ("plan_paysync_pro_monthly_usd", "Pro monthly (USD)", "usd", 1900, "month"),
    ("plan_paysync_pro_yearly_usd", "Pro yearly (USD)", "usd", 19000, "year"),
    ("plan_paysync_team_monthly_eur", "Team monthly (EUR)", "eur", 4900, "month"),
]

CURRENCIES = ["usd"] * 6 + ["eur"] * 2 + ["gbp", "cad", "aud", "jpy"]
ZERO_DECIMAL = {"jpy"}

FIRST = ["Ava", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sofia", "Lucas", "Mia", "Ethan",
         "Chloé", "José", "Zoë", "Björn", "Aoife", "Siobhán", "Priya", "Wei", "Yuki", "Fatima",
         "Omar", "Hannah", "Jonas", "Léa", "Marta", "Ngozi", "Kwame", "Ana", "Pedro", "Grace"]
LAST = ["Smith", "Nguyen", "Garcia", "Müller", "O'Brien", "Kowalski", "Rossi", "Dubois",
        "Johnson", "Khan", "Tanaka", "Silva", "Andersson", "Novak", "Haddad", "Okafor",
        "van der Berg", "Fernández", "Chen", "Murphy", "Levi", "Papadopoulos", "Ivanova",
        "Brown", "Wilson", "Jensen", "Costa", "Schmidt", "Lee", "Patel"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "example.co.uk", "corp.example.io"]
CITIES = [("Springfield", "US", "62701"), ("Portland", "US", "97201"), ("Leeds", "GB", "LS1 4AP"),
          ("Lyon", "FR", "69002"), ("Toronto", "CA", "M5V 2T6"), ("Berlin", "DE", "10115"),
          ("Melbourne", "AU", "3000"), ("Osaka", "JP", "530-0001")]
SOURCES = ["organic", "google_ads", "referral", "newsletter", "partner", "podcast"]


def ascii_fold(s):
    table = str.maketrans({"é": "e", "É": "E", "ö": "o", "ü": "u", "ë": "e", "á": "a", "à": "a",
                           "ó": "o", "í": "i", "ñ": "n", "ç": "c", "ø": "o", "å": "a", "'": "",
                           " ": ""})
    return s.translate(table)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Seeder:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        # What we expect the API to hold at the end, relative to the baseline.
        self.expect = Counter()
        self.deleted_ids = []
        self.email_changes = []
        self.customers = []  # [{id, email, ...}] in creation order
        self.last_write = time.monotonic()

    # ------------------------------------------------------------------ helpers
    def amount_for(self, currency):
        if currency in ZERO_DECIMAL:
            return self.rng.choice([500, 980, 1500, 3200, 5000, 12800, 25000])
        return self.rng.choice([499, 999, 1299, 1900, 2500, 4900, 7999, 9900, 14900, 24900,
                                49900]) + self.rng.choice([0, 0, 0, 1, 50])

    def make_email(self, first, last, n):
        local = f"{ascii_fold(first)}.{ascii_fold(last)}{n}".lower()
        domain = self.rng.choice(DOMAINS)
        r = self.rng.random()
        if r < 0.12:  # mixed case, as people type it
            local = f"{ascii_fold(first)}.{ascii_fold(last)}{n}"
            domain = domain.capitalize() if self.rng.random() < 0.5 else domain.upper()
        elif r < 0.16:  # plus-addressing
            local = f"{local}+{self.rng.choice(['billing', 'stripe', 'news'])}"
        return f"{local}@{domain}"

    def make_phone(self):
        r = self.rng.random()
        if r < 0.3:
            return None
        if r < 0.7:
            return f"+1 {self.rng.randint(201, 989)}-555-{self.rng.randint(100, 199):04d}"
        if r < 0.85:
            return f"+44 20 7946 {self.rng.randint(0, 999):04d}"
        return f"+49{self.rng.randint(1500000000, 1799999999)}"

    def new_card_pm(self, number):
        pm = stripe.PaymentMethod.create(
            type="card",
            card={"number": number, "exp_month": self.rng.randint(1, 12),
                  "exp_year": self.rng.randint(2029, 2034), "cvc": "123"},
        )
        self.last_write = time.monotonic()
        return pm

    # ------------------------------------------------------------------ setup
    def register_webhook(self):
        a = self.args
        data = {"url": a.webhook_url, "secret": a.webhook_secret}
        if a.webhook_events:
            data["events[]"] = [e.strip() for e in a.webhook_events.split(",") if e.strip()]
        r = requests.post(f"{a.api_base}/_config/webhooks/{a.webhook_name}", data=data, timeout=10)
        if r.status_code != 200:
            raise SystemExit(f"webhook registration failed: HTTP {r.status_code} {r.text[:200]}")

    def ensure_catalog(self):
        try:
            stripe.Product.retrieve(PRODUCT_ID)
        except stripe.InvalidRequestError:
            stripe.Product.create(id=PRODUCT_ID, name="Paysync Seed Pro", type="service",
                                  metadata={"seeded_by": "stripe_seed.py"})
        self.plans = []
        for pid, nick, cur, amount, interval in PLANS:
            try:
                plan = stripe.Plan.retrieve(pid)
            except stripe.InvalidRequestError:
                plan = stripe.Plan.create(id=pid, product=PRODUCT_ID, nickname=nick, currency=cur,
                                          amount=amount, interval=interval)
            self.plans.append(plan)

    # ------------------------------------------------------------------ customers
    def plan_customers(self, n):
        """Decide every customer's profile up front (deterministic from the seed)."""
        profiles = []
        for i in range(n):
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            name = f"{first} {last}" if self.rng.random() > 0.04 else None
            email = self.make_email(first, last, self.rng.randint(1, 999))
            profiles.append({"i": i, "first": first, "last": last, "name": name, "email": email})
        # Email oddities: k customers each without email, with the exact email of another
        # customer, and with another customer's email in other case (k = 3 for 200). Sources
        # are distinct ordinary customers, and all of these keep their email (see run()).
        idx = list(range(n))
        self.rng.shuffle(idx)
        k = max(1, n // 60) if n >= 8 else 0
        no_email, shared, case_variant = idx[:k], idx[k:2 * k], idx[2 * k:3 * k]
        sources = idx[3 * k:5 * k]
        self.protected_emails = set(idx[:5 * k])
        for j in no_email:
            profiles[j]["email"] = None
        for j, src in zip(shared + case_variant, sources):
            e = profiles[src]["email"]
            if j in case_variant:
                e = e.upper() if e != e.upper() else e.lower()
            profiles[j]["email"] = e
        # Payment profile by quota: 80% working card, 6% card whose charges fail, 2% card
        # declined on attach, the rest no payment method (at least one of each from n >= 4).
        counts = {"fails": max(1, round(n * 0.06)), "declined": max(1, round(n * 0.02)),
                  "nocard": max(1, n - round(n * 0.80) - max(1, round(n * 0.06))
                                - max(1, round(n * 0.02)))} if n >= 4 else {}
        kinds = [kd for kd, c in counts.items() for _ in range(c)]
        kinds += ["good"] * (n - len(kinds))
        self.rng.shuffle(kinds)
        for p, kd in zip(profiles, kinds):
            p["kind"] = kd
        return profiles

    def create_customer(self, p):
        rng = self.rng
        meta = {"seed": str(self.args.seed), "seed_index": str(p["i"]),
                "signup_source": rng.choice(SOURCES),
                "marketing_opt_in": rng.choice(["true", "true", "false"])}
        if rng.random() < 0.5:
            meta["crm_id"] = f"CRM-{rng.randint(10000, 99999)}"
        params = {"metadata": meta}
        if p["name"] is not None:
            params["name"] = p["name"]
        if p["email"] is not None:
            params["email"] = p["email"]
        phone = self.make_phone()
        if phone:
            params["phone"] = phone
        if rng.random() < 0.6:
            city, country, postal = rng.choice(CITIES)
            params["address"] = {"line1": f"{rng.randint(1, 400)} {rng.choice(LAST)} Street",
                                 "city": city, "country": country, "postal_code": postal}
        if rng.random() < 0.1:
            params["description"] = rng.choice(["VIP", "Migrated from legacy billing",
                                                "Annual contract", "Beta tester"])
        pm = None
        if p["kind"] in ("good", "fails"):
            number = rng.choice(CARD_OK) if p["kind"] == "good" else CARD_CHARGE_FAILS
            pm = self.new_card_pm(number)
            params["payment_method"] = pm.id
            params["invoice_settings"] = {"default_payment_method": pm.id}
        cus = stripe.Customer.create(**params)
        self.last_write = time.monotonic()
        self.expect["customers"] += 1
        if p["kind"] == "declined":
            bad = self.new_card_pm(CARD_DECLINED_ON_ATTACH)
            try:
                stripe.PaymentMethod.attach(bad.id, customer=cus.id)
                raise SystemExit("expected card 4000000000000002 to be declined on attach")
            except stripe.CardError:
                pass
        p["id"] = cus.id
        p["currency"] = rng.choice(CURRENCIES)
        return cus

    def pay(self, cus_id, currency, pm_id=None, expect_fail=False, via_pi=None):
        """One payment: POST /v1/charges (70%) or a confirmed PaymentIntent (30%)."""
        rng = self.rng
        amount = self.amount_for(currency)
        desc = rng.choice(["Order #%d" % rng.randint(1000, 99999), "Invoice payment",
                           "One-off purchase", "Top-up", None])
        r = rng.random()
        if via_pi is None:
            via_pi = r < 0.3
        try:
            if via_pi:
                params = {"amount": amount, "currency": currency, "customer": cus_id,
                          "confirm": True, "metadata": {"channel": "payment_intent"}}
                if pm_id is None:
                    # localstripe's PaymentIntent does not fall back to the customer's default.
                    pm_id = self.default_pm[cus_id]
                params["payment_method"] = pm_id
                pi = stripe.PaymentIntent.create(**params)
                lc = pi["latest_charge"]  # localstripe embeds the whole charge
                charge_id = lc if isinstance(lc, str) else lc["id"]
                charge = {"id": charge_id, "amount": amount, "currency": currency}
            else:
                params = {"amount": amount, "currency": currency, "customer": cus_id,
                          "metadata": {"channel": "charge"}}
                if desc:
                    params["description"] = desc
                if pm_id is not None:
                    params["source"] = pm_id
                ch = stripe.Charge.create(**params)
                charge = {"id": ch.id, "amount": amount, "currency": currency}
            ok = True
        except stripe.CardError:
            ok = False
            charge = None
        self.last_write = time.monotonic()
        self.expect["charges"] += 1
        if ok == expect_fail:
            raise SystemExit(f"payment for {cus_id} with expect_fail={expect_fail} gave ok={ok}")
        if not ok:
            self.expect["failed_charges"] += 1
        return charge

    def refund(self, charge, r=None):
        """Full (60%), partial (30%) or two partial refunds (10%); r forces the choice."""
        rng = self.rng
        x = rng.random()
        r = x if r is None else r
        if r < 0.6:
            stripe.Refund.create(charge=charge["id"])
            self.expect["refunds"] += 1
        else:
            first = max(1, int(charge["amount"] * rng.uniform(0.1, 0.5)))
            stripe.Refund.create(charge=charge["id"], amount=first,
                                 metadata={"reason_note": "partial"})
            self.expect["refunds"] += 1
            if r > 0.9:
                second = max(1, int((charge["amount"] - first) * rng.uniform(0.2, 0.9)))
                stripe.Refund.create(charge=charge["id"], amount=second)
                self.expect["refunds"] += 1
        self.last_write = time.monotonic()

    def subscribe(self, cus_id, expect_paid):
        plan = self.rng.choice(self.plans)
        sub = stripe.Subscription.create(customer=cus_id, items=[{"plan": plan.id}],
                                         metadata={"seeded": "true"})
        self.last_write = time.monotonic()
        self.expect["subscriptions"] += 1
        self.expect["invoices"] += 1
        self.expect["charges"] += 1  # the invoice is paid through a PaymentIntent -> charge
        want = "active" if expect_paid else "incomplete"
        if sub["status"] != want:
            raise SystemExit(f"subscription {sub.id}: status {sub['status']}, expected {want}")
        if not expect_paid:
            self.expect["failed_charges"] += 1
        return {"id": sub.id, "status": sub["status"]}

    # ------------------------------------------------------------------ run
    def run(self):
        a = self.args
        self.default_pm = {}
        profiles = self.plan_customers(a.customers)
        subs_by_customer = defaultdict(list)
        # Scenarios forced on the first customers that can have them, so every run with
        # enough customers has at least one of each whatever the random draws.
        force_refunds = [0.0, 0.7, 0.95]          # full, partial, two partials
        force_fail_paths = [False, True]          # failed via /v1/charges, via PaymentIntent
        force_incomplete_sub = True
        force_extra_failure = True
        for p in profiles:
            cus = self.create_customer(p)
            if p["kind"] in ("good", "fails"):
                self.default_pm[cus.id] = cus["invoice_settings"]["default_payment_method"]
            rng = self.rng
            if p["kind"] == "good":
                n = rng.randint(1, 3) if rng.random() < 0.92 else 0
                for _ in range(n):
                    cur = p["currency"] if rng.random() < 0.8 else rng.choice(CURRENCIES)
                    ch = self.pay(cus.id, cur)
                    if force_refunds:
                        self.refund(ch, force_refunds.pop(0))
                    elif rng.random() < 0.15:
                        self.refund(ch)
                if rng.random() < 0.05 or (force_extra_failure and n > 0):
                    force_extra_failure = False
                    bad = self.new_card_pm(CARD_CHARGE_FAILS)
                    stripe.PaymentMethod.attach(bad.id, customer=cus.id)
                    self.pay(cus.id, p["currency"], pm_id=bad.id, expect_fail=True)
                if rng.random() < 0.3:
                    subs_by_customer[cus.id].append(self.subscribe(cus.id, expect_paid=True))
            elif p["kind"] == "fails":
                for _ in range(rng.randint(1, 2)):
                    via = force_fail_paths.pop(0) if force_fail_paths else None
                    self.pay(cus.id, p["currency"], expect_fail=True, via_pi=via)
                if rng.random() < 0.3 or force_incomplete_sub:
                    force_incomplete_sub = False
                    subs_by_customer[cus.id].append(self.subscribe(cus.id, expect_paid=False))

        # Cancel some active subscriptions (at least one).
        rng = self.rng
        cancelled = 0
        for cus_id, subs in subs_by_customer.items():
            for s in subs:
                if s["status"] == "active" and (rng.random() < 0.15 or not cancelled):
                    stripe.Subscription.cancel(s["id"])
                    s["status"] = "canceled"
                    cancelled += 1

        # Some customers change their details (never those of the email oddities above).
        live = [p for p in profiles if "id" in p]
        for p in rng.sample(live, k=max(1, len(live) // 10)):
            r = rng.random()
            if r < 0.4 and p["email"] and p["i"] not in self.protected_emails:
                new_email = self.make_email(p["first"], p["last"], rng.randint(1000, 9999))
                stripe.Customer.modify(p["id"], email=new_email)
                self.email_changes.append({"customer": p["id"], "from": p["email"],
                                           "to": new_email})
                p["email"] = new_email
            elif r < 0.7:
                new_name = f"{p['first']} {rng.choice(LAST)}"
                stripe.Customer.modify(p["id"], name=new_name)
                p["name"] = new_name
            else:
                stripe.Customer.modify(p["id"], metadata={"marketing_opt_in": "false",
                                                          "unsubscribed_via": "support"})
        # A few customers are deleted (after cancelling their live subscriptions, as Stripe
        # does; localstripe itself would leave them active).
        deletable = [q for q in live if q["i"] not in self.protected_emails]
        n_del = min(len(deletable), max(1, len(live) // 30)) if len(live) >= 4 else 0
        doomed = rng.sample(deletable, k=n_del)
        with_live_sub = [q for q in deletable if q not in doomed and any(
            s["status"] == "active" for s in subs_by_customer.get(q["id"], []))]
        if len(doomed) > 1 and with_live_sub and not any(
                s["status"] == "active" for q in doomed for s in subs_by_customer.get(q["id"], [])):
            doomed[0] = rng.choice(with_live_sub)  # make one of them have an active subscription
        for p in doomed:
            for s in subs_by_customer.get(p["id"], []):
                if s["status"] not in ("canceled", "incomplete_expired"):
                    stripe.Subscription.cancel(s["id"])
                    s["status"] = "canceled"
            stripe.Customer.delete(p["id"])
            self.deleted_ids.append(p["id"])
            self.expect["customers"] -= 1
            self.expect["deleted_customers"] += 1
        self.last_write = time.monotonic()
        return profiles


def list_all(resource, **params):
    return [o for o in resource.list(limit=100, **params).auto_paging_iter()]


def snapshot():
    """Everything the API lists, as plain dicts."""
    return {
        "customers": [c.to_dict() for c in list_all(stripe.Customer)],
        "charges": [c.to_dict() for c in list_all(stripe.Charge)],
        "refunds": [r.to_dict() for r in list_all(stripe.Refund)],
        "subscriptions": [s.to_dict() for s in list_all(stripe.Subscription, status="all")],
        "invoices": [i.to_dict() for i in list_all(stripe.Invoice)],
        "events": [{"id": e["id"], "type": e["type"]} for e in list_all(stripe.Event)],
    }


def main():
    ap = argparse.ArgumentParser(description="Seed localstripe through the stripe SDK.")
    ap.add_argument("--api-base", required=True, help="e.g. http://127.0.0.1:8420")
    ap.add_argument("--customers", type=int, default=200)
    ap.add_argument("--manifest", required=True, help="where to write the JSON manifest")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--api-key", default="sk_test_paysync_seed")
    ap.add_argument("--reset", action="store_true", help="DELETE /_config/data first")
    ap.add_argument("--webhook-url")
    ap.add_argument("--webhook-secret")
    ap.add_argument("--webhook-name", default="paysync")
    ap.add_argument("--webhook-events", help="comma-separated event types (default: all)")
    args = ap.parse_args()
    if bool(args.webhook_url) != bool(args.webhook_secret):
        ap.error("--webhook-url and --webhook-secret go together")
    if args.customers < 1:
        ap.error("--customers must be >= 1")
    args.api_base = args.api_base.rstrip("/")

    stripe.api_key = args.api_key
    stripe.api_base = args.api_base
    stripe.max_network_retries = 0   # localstripe ignores idempotency keys: a retry duplicates
    stripe.enable_telemetry = False

    t0 = time.monotonic()
    if args.reset:
        r = requests.delete(f"{args.api_base}/_config/data", timeout=10)
        r.raise_for_status()
    seeder = Seeder(args)
    if args.webhook_url:
        seeder.register_webhook()
    base = snapshot()
    seeder.ensure_catalog()
    profiles = seeder.run()
    t_created = time.monotonic()

    # ---- verify against what the API holds
    snap = snapshot()
    live_ids = {c["id"] for c in snap["customers"]}
    for cid in seeder.deleted_ids:
        try:
            stripe.Customer.retrieve(cid)
            still = True
        except stripe.InvalidRequestError:  # localstripe: 404 (Stripe: {deleted: true})
            still = False
        if still or cid in live_ids:
            raise SystemExit(f"deleted customer {cid} is still retrievable/listed")
    base_failed = sum(1 for c in base["charges"] if c["status"] == "failed")
    expected = {
        "customers": len(base["customers"]) + seeder.expect["customers"],
        "charges": len(base["charges"]) + seeder.expect["charges"],
        "failed_charges": base_failed + seeder.expect["failed_charges"],
        "refunds": len(base["refunds"]) + seeder.expect["refunds"],
        "subscriptions": len(base["subscriptions"]) + seeder.expect["subscriptions"],
        "invoices": len(base["invoices"]) + seeder.expect["invoices"],
    }
    failed = [c for c in snap["charges"] if c["status"] == "failed"]
    actual = {
        "customers": len(snap["customers"]),
        "charges": len(snap["charges"]),
        "failed_charges": len(failed),
        "refunds": len(snap["refunds"]),
        "subscriptions": len(snap["subscriptions"]),
        "invoices": len(snap["invoices"]),
    }
    mismatches = [{"kind": k, "expected": expected[k], "actual": actual[k]}
                  for k in expected if expected[k] != actual[k]]

    # ---- per-customer summaries
    charge_owner = {c["id"]: c.get("customer") for c in snap["charges"]}
    per = defaultdict(Counter)
    for c in snap["charges"]:
        per[c.get("customer")]["charges"] += 1
        if c["status"] == "failed":
            per[c.get("customer")]["failed_charges"] += 1
    for r in snap["refunds"]:
        per[charge_owner.get(r["charge"])]["refunds"] += 1
    for s in snap["subscriptions"]:
        per[s["customer"]]["subscriptions"] += 1
        if s["status"] == "active":
            per[s["customer"]]["active_subscriptions"] += 1
    by_id = {p["id"]: p for p in profiles if "id" in p}
    summaries = []
    for c in snap["customers"]:
        k = per[c["id"]]
        summaries.append({"id": c["id"], "email": c.get("email"), "name": c.get("name"),
                          "deleted": False, "charges": k["charges"],
                          "failed_charges": k["failed_charges"], "refunds": k["refunds"],
                          "subscriptions": k["subscriptions"],
                          "active_subscriptions": k["active_subscriptions"]})
    for cid in seeder.deleted_ids:
        k = per[cid]
        p = by_id[cid]
        summaries.append({"id": cid, "email": p["email"], "name": p["name"], "deleted": True,
                          "charges": k["charges"], "failed_charges": k["failed_charges"],
                          "refunds": k["refunds"], "subscriptions": k["subscriptions"],
                          "active_subscriptions": k["active_subscriptions"]})

    # ---- email oddities among live customers
    by_email = defaultdict(list)
    by_lower = defaultdict(list)
    for c in snap["customers"]:
        if c.get("email"):
            by_email[c["email"]].append(c["id"])
            by_lower[c["email"].lower()].append(c["id"])
    shared = [{"email": e, "customers": ids} for e, ids in by_email.items() if len(ids) > 1]
    case_groups = [{"email_lower": e, "emails": sorted({c["email"] for c in snap["customers"]
                                                       if c["id"] in ids}), "customers": ids}
                   for e, ids in by_lower.items()
                   if len({c["email"] for c in snap["customers"] if c["id"] in ids}) > 1]

    base_event_ids = {e["id"] for e in base["events"]}
    new_events = [e for e in snap["events"] if e["id"] not in base_event_ids]
    sub_status = Counter(s["status"] for s in snap["subscriptions"])

    manifest = {
        "generator": "scripts/stripe_seed.py",
        "seed": args.seed,
        "api_base": args.api_base,
        "requested_customers": args.customers,
        "elapsed_seconds": {"create": round(t_created - t0, 3)},
        "note": ("counts/ids are what the API lists after the run (including anything present "
                 "before it); list order is the API's (localstripe: customers, charges, "
                 "subscriptions, events oldest first; refunds, invoices newest second first, oldest first "
                 "within one second). deleted_customers are the ones this run deleted: the API "
                 "cannot list deleted customers (localstripe: GET returns 404)"),
        "counts": {
            "customers": actual["customers"],
            "deleted_customers": len(seeder.deleted_ids),
            "charges": actual["charges"],
            "failed_charges": actual["failed_charges"],
            "succeeded_charges": sum(1 for c in snap["charges"] if c["status"] == "succeeded"),
            "refunds": actual["refunds"],
            "subscriptions": actual["subscriptions"],
            "subscriptions_by_status": dict(sorted(sub_status.items())),
            "invoices": actual["invoices"],
            "events": len(snap["events"]),
            "events_this_run": len(new_events),
        },
        "ids": {
            "customers": [c["id"] for c in snap["customers"]],
            "deleted_customers": list(seeder.deleted_ids),
            "charges": [c["id"] for c in snap["charges"]],
            "failed_charges": [c["id"] for c in failed],
            "refunds": [r["id"] for r in snap["refunds"]],
            "subscriptions": [s["id"] for s in snap["subscriptions"]],
            "invoices": [i["id"] for i in snap["invoices"]],
            "events_this_run": [e["id"] for e in new_events],
            "plans": [p[0] for p in PLANS],
            "product": PRODUCT_ID,
        },
        "events_by_type": dict(sorted(Counter(e["type"] for e in new_events).items())),
        "emails": {
            "shared_exact": shared,
            "case_variants": case_groups,
            "customers_without_email": [c["id"] for c in snap["customers"] if not c.get("email")],
            "changed": seeder.email_changes,
        },
        "webhook": ({"name": args.webhook_name, "url": args.webhook_url,
                     "events": args.webhook_events} if args.webhook_url else None),
        "verification": {"ok": not mismatches, "expected": expected, "actual": actual,
                         "baseline": {k: len(v) for k, v in base.items()},
                         "mismatches": mismatches},
        "customer_summaries": summaries,
    }

    # localstripe posts each event ~1 s after creating it: give the last ones time to leave.
    if args.webhook_url:
        remaining = 2.0 - (time.monotonic() - seeder.last_write)
        if remaining > 0:
            time.sleep(remaining)
    t_end = time.monotonic()
    manifest["elapsed_seconds"]["total"] = round(t_end - t0, 3)

    tmp = args.manifest + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, args.manifest)

    c = manifest["counts"]
    print(f"seeded {'OK' if not mismatches else 'MISMATCH'}: customers={c['customers']} "
          f"deleted={c['deleted_customers']} charges={c['charges']} "
          f"(failed={c['failed_charges']}) refunds={c['refunds']} "
          f"subscriptions={c['subscriptions']} {c['subscriptions_by_status']} "
          f"invoices={c['invoices']} events={c['events_this_run']} "
          f"in {t_end - t0:.1f}s -> {args.manifest}", flush=True)
    if mismatches:
        log(f"stripe_seed: count mismatches: {mismatches}")
        return 3
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (stripe.StripeError, requests.RequestException) as e:
        msg = (str(e).strip().splitlines() or [""])[-1]
        log(f"stripe_seed: {type(e).__name__}: {msg}")
        sys.exit(1)
