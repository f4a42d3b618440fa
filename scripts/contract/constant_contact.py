#!/usr/bin/env python3
"""Contract test: Constant Contact's own PyPI client against the Constant Contact emulator.

Usage: constant_contact.py --base http://127.0.0.1:PORT [--client-id ID --client-secret S]

Gets an access token through the emulator's OAuth endpoints (authorization code with PKCE,
then a refresh with rotation) using plain `requests`, then drives the endpoints paysync uses
with `constant-contact-api-client` (Configuration(host=BASE + "/v3")): contact lists, tags,
custom fields, sign_up_form, GET /contacts with filters, a JSON import polled to completion,
tagging, and the unsubscribe rules. Every check is asserted; prints one summary line and
exits non-zero if any failed.

The emulator enforces the real limits (4 requests a second), so API calls made here retry
after a `throttled` 429, as a real integration must.
"""

import argparse
import base64
import datetime as dt
import hashlib
import secrets
import sys
import time
import traceback
import urllib.parse

import requests

try:
    import constant_contact_api_client as ccapi
    from constant_contact_api_client.exceptions import ApiException
except ImportError as e:  # pragma: no cover - environment problem, not a contract failure
    print(f"constant_contact contract: cannot import the client ({e}); run ./scripts/test.sh "
          "(scripts/venv.sh installs scripts/requirements.txt)", file=sys.stderr)
    sys.exit(2)

REDIRECT = "http://127.0.0.1:9/oauth/callback"

passed = 0
failed = []


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failed.append(what)
        print(f"FAIL: {what}", file=sys.stderr)
    return cond


def api(fn, *args, **kwargs):
    """Calls the client, sleeping and retrying on a `throttled` 429 (never on quota)."""
    for _ in range(200):
        try:
            return fn(*args, **kwargs)
        except ApiException as e:
            if e.status == 429 and '"throttled"' in (e.body or ""):
                time.sleep(0.3)
                continue
            raise
    raise RuntimeError("still throttled after 200 attempts")


def expect_error(status, fn, *args, **kwargs):
    """Runs a call that must fail with `status`; returns the exception."""
    try:
        api(fn, *args, **kwargs)
    except ApiException as e:
        check(e.status == status, f"{fn.__name__}: status {e.status}, expected {status}")
        return e
    check(False, f"{fn.__name__}: succeeded, expected {status}")
    return None


def oauth(base, client_id, client_secret):
    """Authorization code with PKCE, then one refresh (rotation); returns an access token."""
    verifier = secrets.token_urlsafe(48)  # 64 chars of [A-Za-z0-9_-]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_hex(8)
    r = requests.get(
        f"{base}/oauth2/default/v1/authorize",
        params={
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "contact_data offline_access",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=10,
    )
    check(r.status_code == 302, f"authorize: status {r.status_code}")
    loc = urllib.parse.urlsplit(r.headers["Location"])
    q = dict(urllib.parse.parse_qsl(loc.query))
    check(loc.geturl().startswith(REDIRECT), "authorize: redirects to redirect_uri")
    check(q.get("state") == state, "authorize: state round-trips")
    token_url = f"{base}/oauth2/default/v1/token"
    auth = (client_id, client_secret)
    r = requests.post(token_url, auth=auth, timeout=10, data={
        "grant_type": "authorization_code",
        "code": q["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    })
    check(r.status_code == 200, f"token: status {r.status_code} {r.text}")
    tok = r.json()
    check(tok.get("token_type") == "Bearer" and tok.get("expires_in") == 86400, f"token: {tok}")
    check("refresh_token" in tok, "token: offline_access gives a refresh token")
    r = requests.post(token_url, auth=auth, timeout=10,
                      data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    check(r.status_code == 200, f"refresh: status {r.status_code}")
    new = r.json()
    check(new["refresh_token"] != tok["refresh_token"], "refresh: the refresh token rotates")
    r = requests.post(token_url, auth=auth, timeout=10,
                      data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    check(r.status_code == 400 and r.json().get("error") == "invalid_grant",
          f"refresh: a used refresh token is rejected ({r.status_code} {r.text})")
    return new["access_token"]


def wait_activity(bulk, activity_id):
    seen = []
    for _ in range(400):
        a = api(bulk.get_activity_by_id, activity_id)
        if not seen or seen[-1] != a.state:
            seen.append(a.state)
        if a.state == "completed":
            check(set(seen) <= {"initialized", "processing", "completed"}, f"activity states {seen}")
            return a
        time.sleep(0.1)
    raise RuntimeError(f"activity {activity_id} did not complete: {seen}")


def raw_post(client, path, body, response_type):
    """POSTs a JSON body the typed models cannot express (`cf:<name>` import properties)
    through the client's own request machinery (auth, serialization, deserialization)."""
    def call():
        params = client.param_serialize(
            method="POST",
            resource_path=path,
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body,
            auth_settings=["oauth2_access_code"],
        )
        resp = client.call_api(*params)
        resp.read()
        return client.response_deserialize(resp, {"201": response_type}).data
    return api(call)


def run(base, client_id, client_secret):
    token = oauth(base, client_id, client_secret)
    conf = ccapi.Configuration(host=f"{base}/v3")
    conf.access_token = token
    client = ccapi.ApiClient(conf)
    lists = ccapi.ContactListsApi(client)
    tags = ccapi.ContactTagsApi(client)
    fields = ccapi.ContactsCustomFieldsApi(client)
    contacts = ccapi.ContactsApi(client)
    bulk = ccapi.BulkActivitiesApi(client)

    # A wrong token: 401 with Constant Contact's body.
    bad_conf = ccapi.Configuration(host=f"{base}/v3")
    bad_conf.access_token = "not-a-token"
    e = expect_error(401, ccapi.ContactListsApi(ccapi.ApiClient(bad_conf)).get_all_lists)
    check(e is not None and '"unauthorized"' in (e.body or ""), "401 body has error_key unauthorized")

    # Contact lists.
    customers = api(lists.create_list, ccapi.UpdateListRequest(
        name="paysync: customers", favorite=False, description="Stripe customers"))
    check(customers.list_id and customers.name == "paysync: customers", f"create_list: {customers}")
    # "Since the start" on the emulator's clock (which tests may set), not this machine's.
    t0 = customers.created_at - dt.timedelta(seconds=1)
    expect_error(409, lists.create_list, ccapi.UpdateListRequest(name="paysync: customers"))
    vip = api(lists.create_list, ccapi.UpdateListRequest(name="paysync: vip"))
    all_lists = api(lists.get_all_lists, include_count=True, include_membership_count="all")
    check(all_lists.lists_count == 2, f"get_all_lists: lists_count {all_lists.lists_count}")
    check([l.name for l in all_lists.lists] == ["paysync: customers", "paysync: vip"], "get_all_lists: names")

    # Tags.
    paid = api(tags.post_tag, ccapi.PostTagRequest(name="paysync:paid"))
    check(paid.tag_id and paid.name == "paysync:paid", f"post_tag: {paid}")
    expect_error(409, tags.post_tag, ccapi.PostTagRequest(name="paysync:paid"))
    all_tags = api(tags.get_all_tags, include_count=True)
    check([t.name for t in all_tags.tags] == ["paysync:paid"], "get_all_tags")

    # Custom fields.
    plan = api(fields.create_custom_fields, ccapi.CreateCustomFieldsRequest(label="Plan", type="string"))
    check(plan.custom_field_id and plan.name == "Plan", f"create_custom_fields: {plan}")
    ltv = api(fields.create_custom_fields, ccapi.CreateCustomFieldsRequest(label="Lifetime value", type="string"))
    check(ltv.name == "Lifetime_value", f"custom field name from label: {ltv.name}")
    all_fields = api(fields.get_all_custom_fields)
    check(len(all_fields.custom_fields) == 2, "get_all_custom_fields")

    # sign_up_form: create (201), then update (200) appending lists and fields.
    cf = ccapi.CreateOrUpdateContactRequestCustomFieldsInner
    r = api(contacts.create_or_update_contact_with_http_info, ccapi.CreateOrUpdateContactRequest(
        email_address="ada@example.com", first_name="Ada", list_memberships=[customers.list_id],
        custom_fields=[cf(custom_field_id=plan.custom_field_id, value="basic")]))
    check(r.status_code == 201 and r.data.action == "created", f"sign_up_form create: {r.status_code} {r.data}")
    ada_id = r.data.contact_id
    r = api(contacts.create_or_update_contact_with_http_info, ccapi.CreateOrUpdateContactRequest(
        email_address="ada@example.com", last_name="Lovelace", list_memberships=[vip.list_id],
        custom_fields=[cf(custom_field_id=plan.custom_field_id, value="pro"),
                       cf(custom_field_id=ltv.custom_field_id, value="12000")]))
    check(r.status_code == 200 and r.data.action == "updated" and r.data.contact_id == ada_id,
          f"sign_up_form update: {r.status_code} {r.data}")
    ada = api(contacts.get_contact_by_id, ada_id, include="custom_fields,list_memberships,taggings")
    check(ada.first_name == "Ada" and ada.last_name == "Lovelace", "sign_up_form: partial update")
    check(ada.list_memberships == [customers.list_id, vip.list_id], f"sign_up_form: lists appended {ada.list_memberships}")
    check({c.custom_field_id: c.value for c in ada.custom_fields}
          == {plan.custom_field_id: "pro", ltv.custom_field_id: "12000"}, "sign_up_form: fields merged")
    check(ada.email_address.permission_to_send == "explicit", "sign_up_form: explicit permission")

    # GET /contacts with filters.
    page = api(contacts.get_all_contacts, email="ada@example.com", include="custom_fields,list_memberships")
    check(len(page.contacts) == 1 and page.contacts[0].contact_id == ada_id, "get_all_contacts: email filter")
    page = api(contacts.get_all_contacts, lists=vip.list_id, include_count=True)
    check(page.contacts_count == 1, f"get_all_contacts: lists filter ({page.contacts_count})")
    page = api(contacts.get_all_contacts, updated_after=t0, status="all", limit=50)
    check(any(c.contact_id == ada_id for c in page.contacts), "get_all_contacts: updated_after (client datetime format)")

    # JSON import with cf: properties, polled to completion.
    rows = [
        {"email": "grace@example.com", "first_name": "Grace", "cf:Plan": "basic", "cf:Lifetime_value": "300"},
        {"email": "alan@example.com", "first_name": "Alan", "cf:Plan": "pro"},
        {"email": "not an email"},
    ]
    act = raw_post(client, "/activities/contacts_json_import",
                   {"import_data": rows, "list_ids": [customers.list_id]},
                   "CreateCSVImportActivity201Response")
    check(act.state == "initialized" and act.activity_id, f"json import queued: {act.state}")
    done = wait_activity(bulk, act.activity_id)
    check(done.status.person_count == 2, f"json import: person_count {done.status.person_count}")
    check(done.status.correctable_count == 1, f"json import: correctable_count {done.status.correctable_count}")
    grace = api(contacts.get_all_contacts, email="grace@example.com", include="custom_fields,list_memberships").contacts
    check(len(grace) == 1, "json import: contact created")
    if grace:
        g = grace[0]
        check(g.email_address.permission_to_send == "implicit", "json import: implicit permission")
        check(g.email_address.opt_in_source == "Account", "json import: opt_in_source Account")
        check(g.list_memberships == [customers.list_id], "json import: list membership")
        check({c.custom_field_id: c.value for c in g.custom_fields}
              == {plan.custom_field_id: "basic", ltv.custom_field_id: "300"}, "json import: cf: fields")

    # A typed import through the generated model (no custom fields).
    typed = api(bulk.create_import_json_activity, ccapi.CreateImportJSONActivityRequest(
        import_data=[ccapi.CreateImportJSONActivityRequestImportDataInner(email="edsger@example.com", last_name="Dijkstra")],
        list_ids=[vip.list_id]))
    check(wait_activity(bulk, typed.activity_id).status.person_count == 1, "typed json import")

    # Tagging activity.
    ids = [c.contact_id for c in api(contacts.get_all_contacts, lists=customers.list_id).contacts]
    req = ccapi.CreateTagRemoveActivityRequest(
        source=ccapi.CreateTagRemoveActivityRequestSource(contact_ids=ids), tag_ids=[paid.tag_id])
    tagged = api(bulk.create_tag_add_contact_activity, req)
    done = wait_activity(bulk, tagged.activity_id)
    check(done.status.items_completed_count == len(ids), "taggings add: all contacts")
    page = api(contacts.get_all_contacts, tags=paid.tag_id, include="taggings")
    check(sorted(c.contact_id for c in page.contacts) == sorted(ids), "get_all_contacts: tags filter")
    removed = api(bulk.create_tag_remove_activity, ccapi.CreateTagRemoveActivityRequest(
        source=ccapi.CreateTagRemoveActivityRequestSource(contact_ids=[ada_id]), tag_ids=[paid.tag_id]))
    wait_activity(bulk, removed.activity_id)
    check(api(contacts.get_contact_by_id, ada_id, include="taggings").taggings == [], "taggings remove")

    # Consent: a contact who unsubscribes themselves stays unsubscribed.
    r = requests.post(f"{base}/_admin/contacts/ada@example.com/unsubscribe", json={}, timeout=10)
    check(r.status_code == 200, "admin unsubscribe")
    r = api(contacts.create_or_update_contact_with_http_info, ccapi.CreateOrUpdateContactRequest(
        email_address="ada@example.com", list_memberships=[customers.list_id]))
    check(r.status_code == 200, "sign_up_form on an unsubscribed contact answers 200")
    ada = api(contacts.get_contact_by_id, ada_id, include="list_memberships")
    check(ada.email_address.permission_to_send == "unsubscribed", "sign_up_form does not re-subscribe")
    check(ada.email_address.opt_out_source == "Contact", "opt_out_source stays Contact")
    check(ada.list_memberships == [], "unsubscribed contact is on no list")
    page = api(contacts.get_all_contacts, status="unsubscribed", optout_after=t0)
    check([c.contact_id for c in page.contacts] == [ada_id], "get_all_contacts: status=unsubscribed&optout_after")

    # Activities collection.
    acts = api(bulk.get_all_activities, state="completed")
    check(len(acts.activities) == 4, f"get_all_activities: {len(acts.activities)} completed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="emulator base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--client-id", default="paysync-cc-client")
    ap.add_argument("--client-secret", default="paysync-cc-secret")
    args = ap.parse_args()
    try:
        run(args.base.rstrip("/"), args.client_id, args.client_secret)
    except Exception:  # an unexpected error is a failed contract, with its traceback
        traceback.print_exc()
        failed.append("unexpected exception")
    if failed:
        print(f"constant_contact contract: {len(failed)} failed, {passed} passed")
        return 1
    print(f"constant_contact contract: all {passed} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
