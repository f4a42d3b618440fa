#!/usr/bin/env python3
"""Contract test: Mailchimp's own SDK (mailchimp-marketing, PyPI) against the paysync emulator.

Drives the endpoints paysync uses through the vendor client and asserts the results:
audiences, merge fields, member upsert by subscriber hash, PATCH, tags, batch subscribe,
member listing, consent (Member In Compliance State, Forgotten Email Not Subscribed), archive,
async batches with their tar.gz results, list webhooks (checked with a GET) and auth errors.

Usage: scripts/contract/mailchimp.py --base http://127.0.0.1:PORT/3.0
Exit status 0 when every check passes; otherwise 1, with a summary line either way.
"""

import argparse
import hashlib
import http.server
import io
import json
import sys
import tarfile
import threading
import time
import traceback

import mailchimp_marketing as MailchimpMarketing
import requests
from mailchimp_marketing.api_client import ApiClientError

PASSED = []
FAILED = []


def check(name, cond, detail=""):
    if cond:
        PASSED.append(name)
    else:
        FAILED.append(f"{name}: {detail}")
        print(f"FAIL {name}: {detail}", file=sys.stderr)


def md5(email):
    return hashlib.md5(email.lower().encode()).hexdigest()


def api_error(fn, *args, **kwargs):
    """Calls fn, expecting ApiClientError; returns (status, problem document)."""
    try:
        fn(*args, **kwargs)
    except ApiClientError as e:
        body = e.text
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                pass
        return e.status_code, body
    return None, None


def client_for(base, key):
    c = MailchimpMarketing.Client()
    c.set_config({"api_key": key, "server": "us1"})
    c.api_client.host = base
    return c


class Hooks(http.server.BaseHTTPRequestHandler):
    got = []

    def do_GET(self):
        Hooks.got.append(("GET", ""))
        self.send_response(200)
        self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        Hooks.got.append(("POST", self.rfile.read(n).decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the emulator's API base, ending in /3.0")
    args = ap.parse_args()
    base = args.base.rstrip("/")
    root = base[: -len("/3.0")] if base.endswith("/3.0") else base
    check("base has no 'server' in it", "server" not in base, base)
    client = client_for(base, "0123456789abcdef0123456789abcdef-us1")

    # Auth and ping.
    check("ping", client.ping.get().get("health_status") == "Everything's Chimpy!")
    check("get_root", client.root.get_root().get("account_name") == "paysync emulator")
    status, body = api_error(client_for(base, "no-dc-suffix").ping.get)
    check("bad key → 401 API Key Invalid", status == 401 and body.get("title") == "API Key Invalid",
          f"{status} {body}")

    # Audiences.
    lst = client.lists.create_list({
        "name": "paysync contract",
        "contact": {"company": "Acme", "address1": "1 Main St", "city": "Springfield",
                    "state": "IL", "zip": "62701", "country": "US"},
        "permission_reminder": "You bought something from us.",
        "email_type_option": False,
        "campaign_defaults": {"from_name": "Acme", "from_email": "news@acme.example",
                              "subject": "", "language": "en"},
    })
    list_id = lst["id"]
    check("create_list", bool(list_id) and lst["name"] == "paysync contract", lst)
    all_lists = client.lists.get_all_lists(count=100)
    check("get_all_lists", any(l["id"] == list_id for l in all_lists["lists"]), all_lists)
    check("get_list", client.lists.get_list(list_id)["stats"]["member_count"] == 0)
    status, body = api_error(client.lists.create_list, {"name": "no contact"})
    check("create_list validates", status == 400 and body.get("title") == "Invalid Resource",
          f"{status} {body}")

    # Merge fields.
    mf = client.lists.add_list_merge_field(list_id, {"name": "Plan", "type": "text", "tag": "PLAN"})
    check("add_list_merge_field", mf["tag"] == "PLAN", mf)
    tags = [f["tag"] for f in client.lists.get_list_merge_fields(list_id, count=100)["merge_fields"]]
    check("merge fields FNAME, LNAME, PLAN", tags == ["FNAME", "LNAME", "PLAN"], tags)

    # Upsert by subscriber hash.
    email = "Ada.Lovelace@Example.com"
    h = md5(email)
    m = client.lists.set_list_member(list_id, h, {
        "email_address": email, "status_if_new": "subscribed",
        "merge_fields": {"FNAME": "Ada", "PLAN": "pro"},
    })
    check("set_list_member creates", m["id"] == h and m["status"] == "subscribed", m)
    m = client.lists.set_list_member(list_id, h, {
        "email_address": email, "status_if_new": "unsubscribed", "merge_fields": {"LNAME": "Lovelace"},
    })
    check("set_list_member updates, status_if_new ignored",
          m["status"] == "subscribed" and m["merge_fields"]["FNAME"] == "Ada"
          and m["merge_fields"]["LNAME"] == "Lovelace", m)
    m = client.lists.get_list_member(list_id, h)
    check("get_list_member", m["merge_fields"]["PLAN"] == "pro" and m["full_name"] == "Ada Lovelace", m)
    m = client.lists.update_list_member(list_id, h, {"merge_fields": {"PLAN": "team"}})
    check("update_list_member (PATCH)", m["merge_fields"]["PLAN"] == "team", m)
    status, body = api_error(client.lists.set_list_member, list_id, md5("other@example.com"),
                             {"email_address": email, "status_if_new": "subscribed"})
    check("hash mismatch → 400", status == 400 and body.get("title") == "Invalid Resource",
          f"{status} {body}")
    status, body = api_error(client.lists.set_list_member, list_id, md5("bad@"),
                             {"email_address": "bad@", "status_if_new": "subscribed"})
    check("invalid email → 400 Invalid Resource",
          status == 400 and body.get("title") == "Invalid Resource", f"{status} {body}")

    # Tags.
    r = client.lists.update_list_member_tags(list_id, h, {
        "tags": [{"name": "customer", "status": "active"}, {"name": "plan:team", "status": "active"}],
        "is_syncing": False,
    })
    check("update_list_member_tags → 204", getattr(r, "status_code", None) == 204, r)
    client.lists.update_list_member_tags(list_id, h, {"tags": [{"name": "plan:team", "status": "inactive"}]})
    names = [t["name"] for t in client.lists.get_list_member_tags(list_id, h)["tags"]]
    check("get_list_member_tags", names == ["customer"], names)

    # Batch subscribe.
    r = client.lists.batch_list_members(list_id, {
        "members": [
            {"email_address": "b1@example.com", "status": "subscribed", "merge_fields": {"FNAME": "B1"}},
            {"email_address": "b2@example.com", "status": "subscribed"},
            {"email_address": email, "status": "subscribed"},
            {"email_address": "nope", "status": "subscribed"},
        ],
    })
    check("batch_list_members",
          r["total_created"] == 2 and r["error_count"] == 2
          and sorted(e["error_code"] for e in r["errors"]) == ["ERROR_CONTACT_EXISTS", "ERROR_GENERIC"], r)
    r = client.lists.batch_list_members(list_id, {
        "members": [{"email_address": "b2@example.com", "status": "unsubscribed"}],
        "update_existing": True,
    })
    check("batch_list_members update_existing", r["total_updated"] == 1
          and r["updated_members"][0]["status"] == "unsubscribed", r)
    info = client.lists.get_list_members_info(list_id, count=1000, status="subscribed")
    got = sorted(m["email_address"] for m in info["members"])
    check("get_list_members_info status filter", got == [email, "b1@example.com"], got)
    page = client.lists.get_list_members_info(list_id, count=1, offset=1,
                                              fields=["members.email_address", "total_items"])
    check("count/offset/fields", page == {"members": [{"email_address": "b1@example.com"}], "total_items": 3},
          page)

    # Consent: a person unsubscribes; the API cannot re-subscribe them.
    requests.post(f"{root}/_admin/unsubscribe", json={"email": email, "list": list_id}, timeout=10).raise_for_status()
    status, body = api_error(client.lists.set_list_member, list_id, h,
                             {"email_address": email, "status": "subscribed", "status_if_new": "subscribed"})
    check("re-subscribe → Member In Compliance State",
          status == 400 and body.get("title") == "Member In Compliance State", f"{status} {body}")
    status, body = api_error(client.lists.update_list_member, list_id, h, {"status": "subscribed"})
    check("PATCH re-subscribe refused", status == 400 and body.get("title") == "Member In Compliance State",
          f"{status} {body}")
    check("still unsubscribed", client.lists.get_list_member(list_id, h)["status"] == "unsubscribed")

    # Archive and permanent delete.
    client.lists.delete_list_member(list_id, md5("b1@example.com"))
    archived = client.lists.get_list_members_info(list_id, status="archived")
    check("delete_list_member archives", archived["total_items"] == 1, archived)
    r = client.lists.delete_list_member_permanent(list_id, md5("b2@example.com"))
    check("delete_list_member_permanent → 204", getattr(r, "status_code", None) == 204, r)
    status, body = api_error(client.lists.set_list_member, list_id, md5("b2@example.com"),
                             {"email_address": "b2@example.com", "status_if_new": "subscribed"})
    check("forgotten address cannot come back",
          status == 400 and body.get("title") == "Forgotten Email Not Subscribed", f"{status} {body}")

    # Webhooks: Mailchimp checks the URL with a GET first, then posts unsubscribes.
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{srv.server_address[1]}/mc"
    wh = client.lists.create_list_webhook(list_id, {
        "url": hook_url, "events": {"unsubscribe": True}, "sources": {"user": True, "admin": True, "api": False},
    })
    check("create_list_webhook", wh["url"] == hook_url and Hooks.got and Hooks.got[0][0] == "GET",
          f"{wh} {Hooks.got}")
    client.lists.set_list_member(list_id, md5("c@example.com"),
                                 {"email_address": "c@example.com", "status_if_new": "subscribed"})
    requests.post(f"{root}/_admin/unsubscribe", json={"email": "c@example.com", "list": list_id},
                  timeout=10).raise_for_status()
    deadline = time.time() + 5
    while time.time() < deadline and not any(m == "POST" for m, _ in Hooks.got):
        time.sleep(0.05)
    posts = [b for m, b in Hooks.got if m == "POST"]
    check("unsubscribe webhook delivered", posts and "type=unsubscribe" in posts[0]
          and "c%40example.com" in posts[0], posts)
    srv.shutdown()

    # Async batch operations.
    e2 = "batched@example.com"
    batch = client.batches.start({"operations": [
        {"method": "PUT", "path": f"/lists/{list_id}/members/{md5(e2)}", "operation_id": "put",
         "body": json.dumps({"email_address": e2, "status_if_new": "subscribed"})},
        {"method": "POST", "path": f"/lists/{list_id}/members/{md5(e2)}/tags", "operation_id": "tag",
         "body": json.dumps({"tags": [{"name": "batched", "status": "active"}]})},
        {"method": "PUT", "path": f"/lists/{list_id}/members/{h}", "operation_id": "resub",
         "body": json.dumps({"email_address": email, "status": "subscribed"})},
    ]})
    check("batches.start pending", batch["status"] == "pending" and batch["total_operations"] == 3, batch)
    deadline = time.time() + 20
    while True:
        st = client.batches.status(batch["id"])
        if st["status"] == "finished" or time.time() > deadline:
            break
        time.sleep(0.1)
    check("batch finished", st["status"] == "finished" and st["finished_operations"] == 3
          and st["errored_operations"] == 1, st)
    results = {}
    if st.get("response_body_url"):
        raw = requests.get(st["response_body_url"], timeout=10).content
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    for item in json.load(tar.extractfile(member)):
                        results[item["operation_id"]] = item
    check("batch results archive", set(results) == {"put", "tag", "resub"}, results)
    if results:
        check("batch op statuses", results["put"]["status_code"] == 200 and results["tag"]["status_code"] == 204
              and results["resub"]["status_code"] == 400, results)
        check("batch op bodies", json.loads(results["put"]["response"])["status"] == "subscribed"
              and json.loads(results["resub"]["response"])["title"] == "Member In Compliance State", results)
    names = [t["name"] for t in client.lists.get_list_member_tags(list_id, md5(e2))["tags"]]
    check("batch applied", names == ["batched"], names)

    # The emulator's state dump agrees.
    state = requests.get(f"{root}/_admin/state", timeout=10).json()
    lst_state = next(l for l in state["lists"] if l["id"] == list_id)
    by_email = {m["email"]: m for m in lst_state["members"]}
    check("state: unsubscribed by the person", by_email[email]["status"] == "unsubscribed"
          and by_email[email]["status_changed_by"] == "person", by_email.get(email))
    check("state: tags", by_email[email]["tags"] == ["customer"], by_email.get(email))
    check("state: forgotten", md5("b2@example.com") in lst_state["forgotten_hashes"], lst_state["forgotten_hashes"])
    check("state: request counts",
          state["requests"]["by_endpoint"].get("PUT /3.0/lists/{list_id}/members/{subscriber_hash}", 0) >= 4,
          state["requests"]["by_endpoint"])


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - any crash is a failed contract
        traceback.print_exc()
        FAILED.append("crashed: " + traceback.format_exc().splitlines()[-1])
    print(f"mailchimp contract: {len(PASSED)} passed, {len(FAILED)} failed")
    for f in FAILED:
        print(f"  - {f}")
    sys.exit(1 if FAILED else 0)
