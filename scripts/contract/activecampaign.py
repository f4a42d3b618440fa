#!/usr/bin/env python3
"""Contract test: the activecampaign-python client (PyPI) against the paysync emulator.

Drives the endpoints paysync uses through the client and asserts the results: lists, custom
fields and their list relations, contact sync, contact search and filters, list memberships
(including the re-subscribe the real API allows), tags and contact tags, field values, bulk
import (async, via the client's own request method: the package has no wrapper for it), Deep
Data connections, customers and orders, auth and the account's 5 requests a second.

The client returns parsed bodies only (no status codes), so checks look at the bodies.

Usage: scripts/contract/activecampaign.py --base http://127.0.0.1:PORT   (the client adds /api/3)
Exit status 0 when every check passes; otherwise 1, with a summary line either way.
"""

import argparse
import concurrent.futures
import os
import sys
import time
import traceback

# This file's name shadows the `activecampaign` package when its directory is on sys.path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import requests  # noqa: E402
from activecampaign.client import Client  # noqa: E402

PASSED = []
FAILED = []


def check(name, cond, detail=""):
    if cond:
        PASSED.append(name)
    else:
        FAILED.append(f"{name}: {detail}")
        print(f"FAIL {name}: {detail}", file=sys.stderr)


def code(body):
    try:
        return body["errors"][0].get("code")
    except (KeyError, IndexError, TypeError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the emulator's root URL (the client adds /api/3)")
    args = ap.parse_args()
    root = args.base.rstrip("/")
    if root.endswith("/api/3"):
        root = root[: -len("/api/3")]

    def admin(path, body):
        r = requests.post(f"{root}/_admin/{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    # The account's rate limit: a burst from several threads gets 429s beyond the bucket.
    admin("rate_limit", {"per_sec": 0.001, "burst": 5})
    burst_client = Client(root, "token-burst")
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda _: burst_client.lists.retrieve_all_lists(), range(8)))
    limited = [b for b in bodies if isinstance(b, dict) and "errors" in b
               and b["errors"][0].get("title") == "Too Many Requests"]
    check("5-request bucket: 3 of 8 refused", len(limited) == 3, bodies)
    admin("rate_limit", {})  # unlimited for the functional checks below

    client = Client(root, "contract-token")
    me = client.users.retrieve_logged_in_user()
    check("retrieve_logged_in_user", me.get("user", {}).get("id") == "1", me)
    forbidden = Client(root, "").lists.retrieve_all_lists()
    check("no Api-Token → 403 body", forbidden == {"message": "Forbidden"}, forbidden)

    # Lists.
    lst = client.lists.create_a_list({"list": {
        "name": "Stripe customers", "stringid": "stripe-customers",
        "sender_url": "https://acme.example", "sender_reminder": "You bought from us.",
    }})
    list_id = lst["list"]["id"]
    check("create_a_list", lst["list"]["name"] == "Stripe customers", lst)
    bad = client.lists.create_a_list({"list": {"name": "No stringid"}})
    check("create_a_list validates", code(bad) == "field_missing", bad)
    lists = client.lists.retrieve_all_lists()
    check("retrieve_all_lists", [l["id"] for l in lists["lists"]] == [list_id], lists)
    check("retrieve_a_list", client.lists.retrieve_a_list(list_id)["list"]["stringid"] == "stripe-customers")

    # Custom fields.
    plan = client.contacts.create_a_custom_field({"field": {"title": "Plan", "type": "text"}})["field"]["id"]
    prods = client.contacts.create_a_custom_field({"field": {"title": "Products", "type": "checkbox"}})["field"]["id"]
    dup = client.contacts.create_a_custom_field({"field": {"title": "Plan", "type": "text"}})
    check("duplicate field title", code(dup) == "duplicate", dup)
    rel = client.contacts.create_a_custom_field_relationship_to_list({"fieldRel": {"field": plan, "relid": list_id}})
    check("create_a_custom_field_relationship_to_list", rel["fieldRel"]["field"] == int(plan), rel)
    fields = client.contacts.list_all_custom_fields(limit=100)
    check("list_all_custom_fields", [f["title"] for f in fields["fields"]] == ["Plan", "Products"], fields)

    # Contacts.
    synced = client.contacts.create_or_update_contact({"contact": {
        "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "phone": "555-0100",
        "fieldValues": [{"field": plan, "value": "pro"}, {"field": prods, "value": "||a||b||"}],
    }})
    cid = synced["contact"]["id"]
    check("create_or_update_contact creates", synced["contact"]["firstName"] == "Ada"
          and len(synced["fieldValues"]) == 2, synced)
    again = client.contacts.create_or_update_contact({"contact": {"email": "ADA@example.com", "lastName": "King"}})
    check("create_or_update_contact updates the same contact", again["contact"]["id"] == cid
          and again["contact"]["firstName"] == "Ada" and again["contact"]["lastName"] == "King", again)
    invalid = client.contacts.create_or_update_contact({"contact": {"email": "nope"}})
    check("invalid email → 422 body", code(invalid) == "email_invalid", invalid)
    found = client.contacts.list_all_contacts(email="ada@example.com")
    check("list_all_contacts email filter", found["meta"]["total"] == "1" and found["contacts"][0]["id"] == cid, found)
    upd = client.contacts.list_all_contacts(**{"filters[updated_after]": "2000-01-01"})
    check("filters[updated_after]", upd["meta"]["total"] == "1", upd)
    one = client.contacts.retrieve_a_contact(cid)
    check("retrieve_a_contact", one["contact"]["email"] == "ada@example.com" and len(one["fieldValues"]) == 2, one)
    missing = client.contacts.retrieve_a_contact("9999")
    check("missing contact → message", missing == {"message": "No Result found for Subscriber with id 9999"}, missing)

    # Field values.
    fv = client.contacts.create_a_custom_field_value({"fieldValue": {"contact": cid, "field": prods, "value": "||a||b||c||"}})
    check("create_a_custom_field_value", fv["fieldValue"]["value"] == "||a||b||c||", fv)
    values = {v["field"]: v["value"] for v in client.contacts.retrieve_a_contacts_field_values(cid)["fieldValues"]}
    check("retrieve_a_contacts_field_values", values == {plan: "pro", prods: "||a||b||c||"}, values)

    # List membership, a person's unsubscribe, and the re-subscribe the API allows.
    sub = client.contacts.update_list_status_for_a_contact({"contactList": {"list": list_id, "contact": cid, "status": 1}})
    check("subscribe through contactLists", sub["contactList"]["status"] == "1", sub)
    admin("unsubscribe", {"email": "ada@example.com", "list": list_id})
    state = requests.get(f"{root}/_admin/state", timeout=10).json()
    check("unsubscribed by the person", state["contacts"][0]["lists"][0]["status"] == 2
          and state["contacts"][0]["lists"][0]["changed_by"] == "person", state["contacts"][0])
    resub = client.contacts.update_list_status_for_a_contact({"contactList": {"list": list_id, "contact": cid, "status": 1, "sourceid": 4}})
    check("re-subscribe is possible (as in the real API)", resub["contactList"]["status"] == "1", resub)
    state = requests.get(f"{root}/_admin/state", timeout=10).json()
    check("re-subscribe counted", state["resubscriptions"] == 1, state["resubscriptions"])

    # Tags.
    tag = client.tags.create_a_tag({"tag": {"tag": "stripe-customer", "tagType": "contact", "description": ""}})
    tag_id = tag["tag"]["id"]
    check("create_a_tag", tag["tag"]["tag"] == "stripe-customer", tag)
    search = client.tags.list_all_tags(search="customer")
    check("list_all_tags search", [t["id"] for t in search["tags"]] == [tag_id], search)
    ct = client.contacts.add_a_tag_to_contact({"contactTag": {"contact": cid, "tag": tag_id}})
    check("add_a_tag_to_contact", ct["contactTag"]["tag"] == tag_id, ct)
    cts = client.contacts.retrieve_contact_tags(cid)
    check("retrieve_contact_tags", [t["tag"] for t in cts["contactTags"]] == [tag_id], cts)
    removed = client.contacts.remove_a_tag_from_a_contact(ct["contactTag"]["id"])
    check("remove_a_tag_from_a_contact", removed == {}, removed)
    check("tag removed", client.contacts.retrieve_contact_tags(cid)["contactTags"] == [])

    # Bulk import (the package has no wrapper: its own request method).
    imp = client._post("/import/bulk_import", json={"contacts": [
        {"email": "b1@example.com", "first_name": "B1", "tags": ["imported"],
         "fields": [{"id": int(plan), "value": "team"}], "subscribe": [{"listid": list_id}]},
        {"email": "b2@example.com", "subscribe": [{"listid": list_id}]},
    ]})
    check("bulk_import queued", imp.get("success") == 1 and imp.get("queued_contacts") == 2, imp)
    too_many = client._post("/import/bulk_import", json={"contacts": [{"email": f"x{i}@example.com"} for i in range(251)]})
    check("bulk_import > 250 refused", too_many.get("success") == 0, too_many)
    deadline = time.time() + 10
    info = {}
    while time.time() < deadline:
        info = client._get("/import/info", params={"batchId": imp.get("batchId")})
        if info.get("status") == "completed":
            break
        time.sleep(0.05)
    check("import completes", info.get("status") == "completed" and len(info.get("success", [])) == 2, info)
    b1 = client.contacts.list_all_contacts(email="b1@example.com")["contacts"]
    check("imported contact", b1 and b1[0]["firstName"] == "B1", b1)
    members = client.contacts.list_all_contacts(listid=list_id, status=1)
    check("contacts on the list", members["meta"]["total"] == "3", members)

    # Deep Data.
    conn = client.deepdataintegrations.create_a_connection({"connection": {
        "service": "stripe", "externalid": "acct_123", "name": "Acme",
        "logoUrl": "https://acme.example/logo.png", "linkUrl": "https://acme.example",
    }})
    conn_id = conn["connection"]["id"]
    check("create_a_connection", conn["connection"]["service"] == "stripe", conn)
    cust = client.deepdataintegrations.create_an_ecommerce_customer({"ecomCustomer": {
        "connectionid": conn_id, "externalid": "cus_123", "email": "ada@example.com", "acceptsMarketing": "1",
    }})
    cust_id = cust["ecomCustomer"]["id"]
    check("create_an_ecommerce_customer", cust["ecomCustomer"]["email"] == "ada@example.com", cust)
    bad_order = client.deepdataintegrations.create_an_ecommerce_order({"ecomOrder": {"externalid": "ch_1"}})
    check("order validation", code(bad_order) == "field_missing", bad_order)
    order = client.deepdataintegrations.create_an_ecommerce_order({"ecomOrder": {
        "externalid": "ch_123", "source": "1", "email": "ada@example.com",
        "orderProducts": [{"externalid": "prod_1", "name": "Pro", "price": 4900, "quantity": 1}],
        "totalPrice": 4900, "currency": "USD", "connectionid": conn_id, "customerid": cust_id,
        "externalCreatedDate": "2025-10-09T08:53:20-05:00",
    }})
    check("create_an_ecommerce_order", order["ecomOrder"]["totalPrice"] == 4900
          and order["ecomOrder"]["source"] == "1", order)
    got = client.deepdataintegrations.retrieve_an_ecommerce_order(order["ecomOrder"]["id"])
    check("retrieve_an_ecommerce_order", got["ecomOrder"]["externalid"] == "ch_123", got)
    customers = client._get("/ecomCustomers", params={"filters[email]": "ada@example.com"})
    check("ecomCustomers filter", customers["ecomCustomers"][0]["totalRevenue"] == "4900", customers)

    # Request accounting for benchmarks.
    counts = requests.get(f"{root}/_admin/state", timeout=10).json()["requests"]["by_endpoint"]
    check("request counts", counts.get("POST /api/3/contact/sync") == 3
          and counts.get("POST /api/3/import/bulk_import") == 2, counts)


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - any crash is a failed contract
        traceback.print_exc()
        FAILED.append("crashed: " + traceback.format_exc().splitlines()[-1])
    print(f"activecampaign contract: {len(PASSED)} passed, {len(FAILED)} failed")
    for f in FAILED:
        print(f"  - {f}")
    sys.exit(1 if FAILED else 0)
