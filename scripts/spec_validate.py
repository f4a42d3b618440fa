#!/usr/bin/env python3
"""Checks HTTP requests against a vendor's API spec in specs/ (copies of shared/specs).

Used by crates/destinations/tests/it/spec_conformance.rs: the connector tests capture every
request the connectors send to the vendor emulators (paysync_emulators RequestLog::capture, or
the PAYSYNC_EMULATOR_CAPTURE file) and hand them here. Each request is checked for:

- path: under the API's base path (Swagger 2 `basePath`, OpenAPI 3 `servers[0].url`), matching
  one of the spec's path templates (`/contacts/{contact_id}`; a literal segment wins over a
  template), path parameters valid against their schemas;
- method: defined for that path;
- query: every parameter declared for the operation and valid against its schema (values are
  strings on the wire: coerced to integer/number/boolean as declared; Swagger 2 arrays split per
  `collectionFormat`, csv by default), required ones present;
- body: `Content-Type` one the operation consumes, the JSON (or form) body valid against the
  operation's request body schema — Swagger 2 `in: body` parameter (or `in: formData`
  parameters), OpenAPI 3 `requestBody.content.<type>.schema` — with every `$ref` resolved;
  required bodies present, no body where the operation takes none. JSON Schema: Draft 4 for
  Swagger 2, 2020-12 for OpenAPI 3.1; `format` is asserted (uuid, date, date-time, email,
  int32, int64); a `readOnly` property must not be sent (and its `required` does not apply to
  requests); objects are closed: a property the schema does not declare is reported (JSON
  Schema would let it through, but in a request it is a misspelt or unsupported field —
  see `close_objects`).
- Constant Contact's `type: string, format: csv` parameters (`include`, `status`: "one or more
  comma separated values") are read as comma-separated lists of their enum values.
- Mailchimp `POST /batches`: each of its `operations` is checked too, as the request it stands
  for (method, path, `params`, JSON `body`).

Spec defects are not skipped silently: they are corrected in CORRECTIONS below, each with the
spec location and the evidence. Requests are judged against the corrected spec; a request the
original spec would have refused is reported with the corrections that let it through, and a
correction no request needed is reported as unexercised (an error with --require-exercised, so
the list stays honest).

Input: a JSON array of captured requests, or JSON lines, each
{method, path, query, content_type, body | body_base64, endpoint?, status?} (what
paysync_emulators' CapturedRequest::to_json gives). Output: a readable report on stdout; with
--json-report FILE also a machine-readable one.

Exit status: 0 every request conforms; 1 a request does not (or, with --require-exercised, a
correction was not needed); 2 bad usage or unreadable input/specs.

Usage: spec_validate.py --vendor constant-contact|activecampaign|mailchimp|auto
                        [--specs DIR] [--input FILE|-] [--require-exercised]
                        [--expect-operations 'METHOD /template' ...] [--json-report FILE]
`auto` picks the vendor of each request by its base path (/v3, /api/3, /3.0); requests under
none of them (Stripe's /v1, …) are counted as not checked.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import json
import os
import re
import sys
import urllib.parse
import uuid as _uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import jsonschema
import yaml
from jsonschema import Draft4Validator, Draft202012Validator, FormatChecker
from jsonschema.validators import extend
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

HERE = os.path.dirname(os.path.abspath(__file__))
# The copies in the repository (specs/), so that a clean clone has them.
DEFAULT_SPECS = os.path.normpath(os.path.join(HERE, "..", "specs"))

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# --------------------------------------------------------------------------------------------
# Vendors


@dataclass(frozen=True)
class VendorSpec:
    name: str
    files: tuple[str, ...]
    base: str
    # Path prefixes (outside `base`) that are not part of the spec, each with the reason.
    out_of_scope: tuple[tuple[str, str], ...] = ()


VENDORS = {
    "constant-contact": VendorSpec(
        name="constant-contact",
        files=("constant-contact/swagger.yaml",),
        base="/v3",
        out_of_scope=(
            (
                "/oauth2/",
                "OAuth 2.0 authorization server (authz.constantcontact.com/oauth2/default/v1/…, "
                "API-FACTS 'Constant Contact v3'): a separate host, not described by the v3 "
                "swagger",
            ),
        ),
    ),
    "activecampaign": VendorSpec(
        name="activecampaign",
        files=("activecampaign/activecampaign-v3.reconstructed.json",),
        base="/api/3",
    ),
    "mailchimp": VendorSpec(
        name="mailchimp",
        # Split by resource from one marketing.json: paths appear in several files, identically.
        files=(
            "mailchimp/mailchimp-list-id-api-openapi.yml",
            "mailchimp/mailchimp-members-api-openapi.yml",
            "mailchimp/mailchimp-lists-api-openapi.yml",
            "mailchimp/mailchimp-batches-api-openapi.yml",
        ),
        base="/3.0",
    ),
}


# --------------------------------------------------------------------------------------------
# Spec corrections: the allow-list. Each one names the spec location, the evidence that the spec
# is wrong there, and the operations whose requests it may excuse. Corrections change the spec
# as little as possible and keep the documented limits (a request over them still fails).


@dataclass(frozen=True)
class Correction:
    id: str
    vendor: str
    spec: str
    why: str
    # ("METHOD", "/template") of the operations whose requests it may excuse.
    operations: tuple[tuple[str, str], ...]
    apply: Callable[[dict[str, Any]], None]


def _ptr(doc: Any, pointer: str) -> Any:
    """The value at a JSON pointer (`/paths/~1contacts/get`)."""
    cur = doc
    for raw in pointer.lstrip("/").split("/") if pointer not in ("", "/") else []:
        key = raw.replace("~1", "/").replace("~0", "~")
        cur = cur[int(key)] if isinstance(cur, list) else cur[key]
    return cur


def _esc(s: str) -> str:
    return s.replace("~", "~0").replace("/", "~1")


class SpecError(Exception):
    """A spec that cannot be used as it is (unreadable, or a correction no longer fits)."""


def _expect(value: Any, expected: Any, where: str) -> None:
    # A correction applies only to the defect it was written for: if the spec changed there,
    # the correction must be looked at again.
    if value != expected:
        raise SpecError(
            f"correction no longer matches the spec at {where}: expected {expected!r}, "
            f"found {value!r}"
        )


def _cc_remove_list_memberships_limits(docs: dict[str, Any]) -> None:
    d = docs["constant-contact/swagger.yaml"]
    s = _ptr(d, "/definitions/ListActivityRemoveContacts/properties")
    for path, limit in (
        (("source", "properties", "contact_ids"), 500),
        (("source", "properties", "list_ids"), 50),
        (("list_ids",), 50),
    ):
        node = s
        for k in path:
            node = node[k]
        _expect(node.get("maxItems"), 0, "ListActivityRemoveContacts." + ".".join(path))
        node["maxItems"] = limit


def _cc_cursor(docs: dict[str, Any]) -> None:
    d = docs["constant-contact/swagger.yaml"]
    for p in ("/contacts", "/contact_lists", "/contact_tags", "/contact_custom_fields"):
        params = d["paths"][p]["get"].setdefault("parameters", [])
        _expect([x for x in params if x.get("name") == "cursor"], [], f"GET {p} cursor")
        params.append(
            {
                "name": "cursor",
                "in": "query",
                "type": "string",
                "required": False,
                "description": "(spec_validate correction CC-cursor)",
            }
        )


def _cc_import_cf_keys(docs: dict[str, Any]) -> None:
    contact = _ptr(docs["constant-contact/swagger.yaml"], "/definitions/JsonImportContact")
    props = contact["properties"]
    _expect("cf:custom_field_name" in props, True, "JsonImportContact.properties.cf:custom_field_name")
    contact["patternProperties"] = {"^cf:.": props.pop("cf:custom_field_name")}


AC_FILE = "activecampaign/activecampaign-v3.reconstructed.json"
AC_ORDER = "/paths/~1ecomOrders/post/requestBody/content/application~1json/schema/properties/ecomOrder"


def _ac_order_ids(docs: dict[str, Any]) -> None:
    order = _ptr(docs[AC_FILE], AC_ORDER)
    req = order["required"]
    for k in ("externalid", "externalcheckoutid", "abandonedDate"):
        _expect(k in req, True, f"ecomOrder.required {k}")
    order["required"] = [k for k in req if k not in ("externalid", "externalcheckoutid", "abandonedDate")]
    # What the descriptions say: an order has externalid, or a cart externalcheckoutid with its
    # abandonedDate.
    order["anyOf"] = [
        {"required": ["externalid"]},
        {"required": ["externalcheckoutid", "abandonedDate"]},
    ]
    order["dependentRequired"] = {"externalcheckoutid": ["abandonedDate"]}


def _ac_order_products_array(docs: dict[str, Any]) -> None:
    order = _ptr(docs[AC_FILE], AC_ORDER)
    products = order["properties"]["orderProducts"]
    _expect(products.get("type"), "object", "ecomOrder.orderProducts.type")
    order["properties"]["orderProducts"] = {"type": "array", "items": products}


def _ac_order_created_date(docs: dict[str, Any]) -> None:
    created = _ptr(docs[AC_FILE], AC_ORDER)["properties"]["externalCreatedDate"]
    _expect(created.get("format"), "date", "ecomOrder.externalCreatedDate.format")
    created["format"] = "date-time"


def _ac_add_query(docs: dict[str, Any], path: str, names: Iterable[str]) -> None:
    op = docs[AC_FILE]["paths"][path]["get"]
    params = op.setdefault("parameters", [])
    for name in names:
        _expect([x for x in params if x.get("name") == name], [], f"GET {path} {name}")
        params.append(
            {
                "name": name,
                "in": "query",
                "schema": {"type": "integer", "format": "int32", "minimum": 0},
                "description": "(spec_validate correction: AC pagination)",
            }
        )


def _ac_contacts_paging(docs: dict[str, Any]) -> None:
    _ac_add_query(docs, "/contacts", ("limit", "offset"))


def _ac_other_paging(docs: dict[str, Any]) -> None:
    _ac_add_query(docs, "/tags", ("limit", "offset"))
    _ac_add_query(docs, "/lists", ("offset",))
    _ac_add_query(docs, "/fields", ("offset",))


def _ac_contact_tags_path(docs: dict[str, Any]) -> None:
    paths = docs[AC_FILE]["paths"]
    _expect("/contacts/{id}/contactTags" in paths, False, "paths./contacts/{id}/contactTags")
    # Shaped like its documented siblings (GET /contacts/{id}/contactLists, …/contactGoals).
    sibling = paths["/contacts/{id}/contactLists"]["get"]
    paths["/contacts/{id}/contactTags"] = {
        "get": {
            "summary": "Retrieve a contact's tags (spec_validate correction AC-contact-tags)",
            "operationId": "spec-validate-get-contact-contact-tags",
            "parameters": json.loads(json.dumps(sibling.get("parameters", []))),
        }
    }


def _ac_orders_id_case(docs: dict[str, Any]) -> None:
    params = docs[AC_FILE]["paths"]["/contacts"]["get"]["parameters"]
    p = next(x for x in params if x.get("name") == "orders[id]")
    _expect((p["schema"].get("default"), p["schema"].get("enum")), ("ASC", ["desc", "asc"]), "GET /contacts orders[id]")
    p["schema"]["enum"] = ["desc", "asc", "DESC", "ASC"]


CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        id="CC-remove-maxitems-0",
        vendor="constant-contact",
        spec="swagger.yaml definitions.ListActivityRemoveContacts: properties.source.properties."
        "contact_ids.maxItems, properties.source.properties.list_ids.maxItems, "
        "properties.list_ids.maxItems (all 0)",
        why="maxItems: 0 forbids any id at all, which would make the required list_ids "
        "unsatisfiable; the same properties' descriptions say 'Include up to 500 contact_id "
        "values', 'Include up to 50 list_id values', 'Specify up to 50 target list_ids', as "
        "do TagAddRemoveContacts (maxItems 500/50) and API-FACTS ('remove_list_memberships "
        "(≤500 contact_ids)'). Corrected to 500, 50 and 50.",
        operations=(("POST", "/activities/remove_list_memberships"),),
        apply=_cc_remove_list_memberships_limits,
    ),
    Correction(
        id="CC-import-cf-keys",
        vendor="constant-contact",
        spec="swagger.yaml definitions.JsonImportContact.properties['cf:custom_field_name']",
        why="A placeholder, not a property: its description says 'The name of this property is "
        "dynamic based on the custom fields you want to import … the key is an existing custom "
        "field name prefixed with cf:' (and POST /activities/contacts_json_import: 'prefix the "
        "custom field name with cf: and add it as a contact property'). Replaced by "
        "patternProperties '^cf:.' with the placeholder's schema (string, ≤ 255). Needed only "
        "because spec_validate closes objects (undeclared properties are reported).",
        operations=(("POST", "/activities/contacts_json_import"),),
        apply=_cc_import_cf_keys,
    ),
    Correction(
        id="CC-cursor",
        vendor="constant-contact",
        spec="swagger.yaml paths./contacts.get, /contact_lists.get, /contact_tags.get, "
        "/contact_custom_fields.get: parameters (no `cursor`)",
        why="Collections page through `_links.next.href` (API-FACTS: 'next page in "
        "_links.next'), which carries a `cursor` query parameter no operation declares; the "
        "spec's own GET /contact_tags description says to 'copy the cursor={the cursor ID} "
        "from the resulting href link and add it to the URL' (example "
        "/v3/contact_tags?limit=1&cursor=…). Added as an optional string.",
        operations=(
            ("GET", "/contacts"),
            ("GET", "/contact_lists"),
            ("GET", "/contact_tags"),
            ("GET", "/contact_custom_fields"),
        ),
        apply=_cc_cursor,
    ),
    Correction(
        id="AC-order-ids",
        vendor="activecampaign",
        spec="activecampaign-v3.reconstructed.json paths./ecomOrders.post.requestBody.content."
        "application/json.schema.properties.ecomOrder.required (externalid, externalcheckoutid, "
        "abandonedDate)",
        why="The reconstruction marks all three required, but their descriptions say "
        "externalid is 'ONLY REQUIRED IF EXTERNALCHECKOUTID NOT INCLUDED', externalcheckoutid "
        "'ONLY REQUIRED IF EXTERNALID IS NOT INCLUDED', abandonedDate 'REQUIRED ONLY IF "
        "INCLUDING EXTERNALCHECKOUTID', and the operation's own request example sends externalid "
        "alone. Corrected to: externalid, or externalcheckoutid with abandonedDate (anyOf + "
        "dependentRequired).",
        operations=(("POST", "/ecomOrders"),),
        apply=_ac_order_ids,
    ),
    Correction(
        id="AC-order-products-array",
        vendor="activecampaign",
        spec="activecampaign-v3.reconstructed.json paths./ecomOrders.post.requestBody.content."
        "application/json.schema.properties.ecomOrder.properties.orderProducts (type: object)",
        why="An order has several products: the operation's own request example sends "
        "orderProducts as an array of product objects (Pogo Stick, Skateboard). Corrected to an "
        "array whose items are the spec's product object (its required name, price, quantity, "
        "externalid kept).",
        operations=(("POST", "/ecomOrders"),),
        apply=_ac_order_products_array,
    ),
    Correction(
        id="AC-order-created-date-time",
        vendor="activecampaign",
        spec="activecampaign-v3.reconstructed.json paths./ecomOrders.post.requestBody.content."
        "application/json.schema.properties.ecomOrder.properties.externalCreatedDate "
        "(format: date)",
        why="The operation's own request example sends a date-time "
        "('externalCreatedDate': '2016-09-13T17:41:39-04:00'), as its sibling "
        "externalUpdatedDate does; 'date' would refuse the example. Corrected to format "
        "date-time.",
        operations=(("POST", "/ecomOrders"),),
        apply=_ac_order_created_date,
    ),
    Correction(
        id="AC-contacts-limit-offset",
        vendor="activecampaign",
        spec="activecampaign-v3.reconstructed.json paths./contacts.get.parameters (no limit, "
        "no offset)",
        why="ActiveCampaign's list endpoints page with `limit` (≤ 100) and `offset` (the "
        "vendor's pagination docs). The reconstruction "
        "declares the pair on GET /customObjects/schemas and /customObjects/records/{schemaId}, "
        "`limit` alone on GET /lists and /fields, and dropped both here, on the largest "
        "collection. Added as optional non-negative integers.",
        operations=(("GET", "/contacts"),),
        apply=_ac_contacts_paging,
    ),
    Correction(
        id="AC-paging-tags-lists-fields",
        vendor="activecampaign",
        spec="activecampaign-v3.reconstructed.json paths./tags.get.parameters (no limit, no "
        "offset), /lists.get.parameters and /fields.get.parameters (no offset)",
        why="Same gap as AC-contacts-limit-offset: these collections page with limit/offset "
        "like every ActiveCampaign list endpoint; the reconstruction declares `limit` on "
        "/lists and /fields yet no `offset` to go with it. Added as optional non-negative "
        "integers.",
        operations=(("GET", "/tags"), ("GET", "/lists"), ("GET", "/fields")),
        apply=_ac_other_paging,
    ),
    Correction(
        id="AC-contact-tags",
        vendor="activecampaign",
        spec="activecampaign-v3.reconstructed.json paths (no /contacts/{id}/contactTags)",
        why="ActiveCampaign documents 'Retrieve a contact's tags' as GET "
        "/api/3/contacts/{id}/contactTags; the reconstruction has its siblings "
        "(/contacts/{id}/contactLists, /contactGoals, /contactLogs, …) but not this one. Added "
        "with the siblings' parameters (path id, integer), no query, no body.",
        operations=(("GET", "/contacts/{id}/contactTags"),),
        apply=_ac_contact_tags_path,
    ),
    Correction(
        id="AC-orders-id-case",
        vendor="activecampaign",
        spec="activecampaign-v3.reconstructed.json paths./contacts.get.parameters[orders[id]]."
        "schema (default 'ASC', enum ['desc', 'asc'])",
        why="The parameter's own default, 'ASC', is not in its enum: the reconstruction "
        "lower-cased the enum only (orders[email] has the same default). Corrected to accept "
        "both cases.",
        operations=(("GET", "/contacts"),),
        apply=_ac_orders_id_case,
    ),
)

# Not a correction, and so not in the list above: Mailchimp's `fields` / `exclude_fields` query
# parameters are `type: array, collectionFormat: csv` (Swagger 2.0), i.e. one comma-separated
# string on the wire — exactly what paysync sends — and this validator splits csv arrays as
# Swagger 2.0 defines (see `split_collection`).


# --------------------------------------------------------------------------------------------
# Loading


class _YamlLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """YAML with timestamps kept as strings (as they are in JSON)."""


_YamlLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def load_docs(specs_dir: str, vendor: VendorSpec) -> dict[str, Any]:
    docs: dict[str, Any] = OrderedDict()
    for f in vendor.files:
        path = os.path.join(specs_dir, f)
        with open(path, encoding="utf-8") as fh:
            docs[f] = json.load(fh) if f.endswith(".json") else yaml.load(fh, Loader=_YamlLoader)
    return docs


@dataclass
class Operation:
    vendor: str
    file: str
    template: str
    method: str  # upper case
    op: dict[str, Any]
    params: list[dict[str, Any]]  # path-level + operation-level, $refs resolved
    param_pointers: dict[int, str]  # id(param) -> its JSON pointer in `doc`
    doc: dict[str, Any]
    oas3: bool
    pointer: str  # JSON pointer of the operation in its file
    regex: re.Pattern[str]
    literal_segments: int

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def where(self) -> str:
        oid = self.op.get("operationId")
        return f"{self.file} {self.method} {self.template}" + (f" ({oid})" if oid else "")


def _template_regex(template: str) -> tuple[re.Pattern[str], int]:
    out = []
    literal = 0
    for seg in template.strip("/").split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            out.append(f"(?P<{_group(seg[1:-1])}>[^/]+)")
        else:
            literal += 1
            out.append(re.escape(seg))
    return re.compile("^/" + "/".join(out) + "$"), literal


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _params(doc: dict[str, Any], raw: list[Any], owner: str) -> list[tuple[dict[str, Any], str]]:
    """Parameters with `$ref`s resolved, each with its JSON pointer."""
    out = []
    for i, p in enumerate(raw):
        ptr = p["$ref"][1:] if isinstance(p, dict) and isinstance(p.get("$ref"), str) else f"{owner}/parameters/{i}"
        out.append((_resolve_ref(doc, p), ptr))
    return out


def _resolve_ref(doc: dict[str, Any], node: Any) -> Any:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and isinstance(node["$ref"], str):
        ref = node["$ref"]
        if not ref.startswith("#"):
            raise SpecError(f"external $ref not supported: {ref}")
        node = _ptr(doc, ref[1:])
        seen += 1
        if seen > 50:
            raise SpecError(f"$ref loop at {ref}")
    return node


class Spec:
    def __init__(self, vendor: VendorSpec, docs: dict[str, Any]):
        self.vendor = vendor
        self.docs = docs
        self.ops: list[Operation] = []
        self.paths: dict[str, dict[str, Operation]] = OrderedDict()
        self._validators: dict[tuple[int, str], Any] = {}
        self._registries: dict[str, Registry] = {}
        for f, doc in docs.items():
            oas3 = "openapi" in doc
            base = _base_path(doc)
            if base != vendor.base:
                raise SpecError(f"{f}: base path {base!r}, expected {vendor.base!r}")
            for template, item in (doc.get("paths") or {}).items():
                item = _resolve_ref(doc, item)
                item_ptr = f"/paths/{_esc(template)}"
                shared = _params(doc, item.get("parameters", []), item_ptr)
                for m in METHODS:
                    if m not in item:
                        continue
                    op = item[m]
                    # Mailchimp's files repeat paths: the first file's operation is kept.
                    if m.upper() in self.paths.get(template, {}):
                        continue
                    own = _params(doc, op.get("parameters", []), f"{item_ptr}/{m}")
                    keys = {(p.get("name"), p.get("in")) for p, _ in own}
                    both = [x for x in shared if (x[0].get("name"), x[0].get("in")) not in keys] + own
                    rx, literal = _template_regex(template)
                    o = Operation(
                        vendor=vendor.name,
                        file=f,
                        template=template,
                        method=m.upper(),
                        op=op,
                        params=[p for p, _ in both],
                        param_pointers={id(p): ptr for p, ptr in both},
                        doc=doc,
                        oas3=oas3,
                        pointer=f"/paths/{_esc(template)}/{m}",
                        regex=rx,
                        literal_segments=literal,
                    )
                    self.ops.append(o)
                    self.paths.setdefault(template, OrderedDict())[o.method] = o

    # ---- matching

    def match(self, path: str) -> list[tuple[str, dict[str, str]]]:
        """Templates matching `path` (relative to the base), the most literal first."""
        found = []
        for template, methods in self.paths.items():
            any_op = next(iter(methods.values()))
            m = any_op.regex.match(path)
            if m:
                values = {}
                for seg in template.strip("/").split("/"):
                    if seg.startswith("{") and seg.endswith("}"):
                        values[seg[1:-1]] = urllib.parse.unquote(m.group(_group(seg[1:-1])))
                found.append((any_op.literal_segments, template, values))
        found.sort(key=lambda t: -t[0])
        return [(t, v) for _, t, v in found]

    # ---- schemas

    def registry(self, op: Operation) -> Registry:
        r = self._registries.get(op.file)
        if r is None:
            spec = DRAFT202012 if op.oas3 else DRAFT4
            r = Registry().with_resource(_uri(op.file), Resource.from_contents(op.doc, default_specification=spec))
            self._registries[op.file] = r
        return r

    def validator(self, op: Operation, pointer: str, schema: Any = None) -> Any:
        """A validator for the schema at `pointer` in the operation's file (or `schema`, whose
        `$ref`s are resolved against that file)."""
        key = (id(op.doc), pointer if schema is None else pointer + "#" + json.dumps(schema, sort_keys=True))
        v = self._validators.get(key)
        if v is None:
            root = {"$ref": f"{_uri(op.file)}#{pointer}"} if schema is None else _rebase(schema, _uri(op.file))
            cls = Oas31Validator if op.oas3 else Swagger2Validator
            v = cls(root, registry=self.registry(op), format_checker=FORMATS)
            self._validators[key] = v
        return v


def _uri(file: str) -> str:
    return "urn:spec:" + file.replace("/", ":")


def _rebase(schema: Any, uri: str) -> Any:
    """`schema` with its local `$ref`s pointing into the file `uri`."""
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#"):
                out[k] = uri + v
            else:
                out[k] = _rebase(v, uri)
        return out
    if isinstance(schema, list):
        return [_rebase(v, uri) for v in schema]
    return schema


def _base_path(doc: dict[str, Any]) -> str:
    if "openapi" in doc:
        url = ((doc.get("servers") or [{}])[0]).get("url", "")
        return urllib.parse.urlsplit(url).path.rstrip("/") or ""
    return (doc.get("basePath") or "").rstrip("/")


# --------------------------------------------------------------------------------------------
# JSON Schema: formats and the OpenAPI keywords that matter for requests

FORMATS = FormatChecker()

_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(v: Any) -> bool:
    if not isinstance(v, str):
        return True
    if not _DATE_TIME.match(v):
        raise ValueError("not an RFC 3339 date-time")
    _dt.datetime.fromisoformat(v.replace("z", "Z").replace("t", "T").replace("Z", "+00:00"))
    return True


@FORMATS.checks("date", raises=ValueError)
def _is_date(v: Any) -> bool:
    if not isinstance(v, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        raise ValueError("not a full-date (YYYY-MM-DD)")
    _dt.date.fromisoformat(v)
    return True


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(v: Any) -> bool:
    if not isinstance(v, str):
        return True
    if not re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", v):
        raise ValueError("not a UUID")
    _uuid.UUID(v)
    return True


@FORMATS.checks("email")
def _is_email(v: Any) -> bool:
    return not isinstance(v, str) or ("@" in v and not v.startswith("@") and not v.endswith("@"))


@FORMATS.checks("int32")
def _is_int32(v: Any) -> bool:
    return not isinstance(v, int) or isinstance(v, bool) or -(2**31) <= v < 2**31


@FORMATS.checks("int64")
def _is_int64(v: Any) -> bool:
    return not isinstance(v, int) or isinstance(v, bool) or -(2**63) <= v < 2**63


CLOSED = "x-spec-validate-closed"


def close_objects(doc: dict[str, Any]) -> None:
    """Marks the object schemas whose `properties` (and `patternProperties`) are the complete
    list — no `additionalProperties`, no composition — so a request sending a property they do
    not declare is reported: JSON Schema lets undeclared properties through, but for a
    request one is a misspelt or unsupported field the vendor ignores or refuses (Swagger 2.0
    and OpenAPI name every property a request may carry). Schemas used as allOf/anyOf/oneOf
    branches stay open (a branch declares only part of the object)."""
    roots: list[Any] = []
    roots += list((doc.get("definitions") or {}).values())
    roots += list(((doc.get("components") or {}).get("schemas") or {}).values())
    for item in (doc.get("paths") or {}).values():
        if not isinstance(item, dict):
            continue
        ops = [item] + [item[m] for m in METHODS if isinstance(item.get(m), dict)]
        for op in ops:
            for prm in op.get("parameters") or []:
                if isinstance(prm, dict) and isinstance(prm.get("schema"), dict):
                    roots.append(prm["schema"])
            rb = op.get("requestBody")
            if isinstance(rb, dict):
                for media in (rb.get("content") or {}).values():
                    if isinstance(media, dict) and isinstance(media.get("schema"), dict):
                        roots.append(media["schema"])
    branches: set[int] = set()

    def resolve(node: Any) -> Any:
        try:
            return _resolve_ref(doc, node)
        except (KeyError, IndexError, SpecError):
            return node

    def children(node: dict[str, Any]) -> Iterable[tuple[Any, bool]]:
        for key in ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas"):
            for v in (node.get(key) or {}).values() if isinstance(node.get(key), dict) else []:
                yield v, False
        for key in ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"):
            v = node.get(key)
            if isinstance(v, dict):
                yield v, False
            elif isinstance(v, list):
                for x in v:
                    yield x, False
        for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
            for v in node.get(key) or []:
                yield v, key != "prefixItems"

    seen: set[int] = set()
    todo: list[tuple[Any, bool]] = [(r, False) for r in roots]
    order: list[Any] = []
    while todo:
        node, branch = todo.pop()
        node = resolve(node)
        if not isinstance(node, dict):
            continue
        if branch:
            branches.add(id(node))
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        todo.extend(children(node))
    for node in order:
        if (
            id(node) not in branches
            and isinstance(node.get("properties"), dict)
            and node.get("type", "object") == "object"
            and not any(k in node for k in ("additionalProperties", "allOf", "anyOf", "oneOf", "$ref", "unevaluatedProperties"))
        ):
            node[CLOSED] = True


def _closed(validator: Any, value: Any, instance: Any, schema: Any) -> Iterable[Any]:
    if value is True and isinstance(instance, dict):
        declared = schema.get("properties") or {}
        patterns = [re.compile(p) for p in (schema.get("patternProperties") or {})]
        extra = [k for k in instance if k not in declared and not any(p.search(k) for p in patterns)]
        if extra:
            yield jsonschema.ValidationError(
                f"undeclared propert{'y' if len(extra) == 1 else 'ies'} {', '.join(map(repr, extra))} "
                f"(declared: {', '.join(list(declared)[:12])}{', …' if len(declared) > 12 else ''})"
            )


def _read_only(validator: Any, value: Any, instance: Any, schema: Any) -> Iterable[Any]:
    # Reached only for a property that is present: readOnly ones must not be sent in requests
    # (Swagger 2.0 Schema Object; OpenAPI 3 "SHOULD NOT be sent as part of the request").
    if value is True:
        yield jsonschema.ValidationError("read-only property sent in a request")


def _required_for_requests(base: Callable[..., Iterable[Any]]) -> Callable[..., Iterable[Any]]:
    def required(validator: Any, required: Any, instance: Any, schema: Any) -> Iterable[Any]:
        props = schema.get("properties") or {}
        wanted = [
            r
            for r in required
            if not (isinstance(props.get(r), dict) and props[r].get("readOnly") is True)
        ]
        yield from base(validator, wanted, instance, schema)

    return required


Swagger2Validator = extend(
    Draft4Validator,
    {
        CLOSED: _closed,
        "readOnly": _read_only,
        "required": _required_for_requests(Draft4Validator.VALIDATORS["required"]),
    },
)
Oas31Validator = extend(
    Draft202012Validator,
    {
        CLOSED: _closed,
        "readOnly": _read_only,
        "required": _required_for_requests(Draft202012Validator.VALIDATORS["required"]),
    },
)


# --------------------------------------------------------------------------------------------
# Checking one request


@dataclass
class Request:
    method: str
    path: str
    query: str | None
    content_type: str | None
    body: bytes
    label: str = ""

    @staticmethod
    def from_json(v: dict[str, Any]) -> "Request":
        if v.get("body_base64"):
            body = base64.b64decode(v["body_base64"])
        else:
            body = (v.get("body") or "").encode("utf-8")
        return Request(
            method=str(v.get("method", "")).upper(),
            path=str(v.get("path", "")),
            query=v.get("query") or None,
            content_type=v.get("content_type") or None,
            body=body,
        )

    def show(self) -> str:
        q = f"?{self.query}" if self.query else ""
        if len(q) > 160:
            q = q[:157] + "…"
        return f"{self.method} {self.path}{q}"


@dataclass
class Verdict:
    ok: bool
    op: Operation | None = None
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None


def _media(ct: str | None) -> str:
    return (ct or "").split(";")[0].strip().lower()


def _media_matches(sent: str, declared: str) -> bool:
    declared = _media(declared)
    if declared in ("*/*", sent):
        return True
    if declared.endswith("/*"):
        return sent.startswith(declared[:-1])
    return False


def _short(v: Any, n: int = 120) -> str:
    s = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _describe(e: jsonschema.ValidationError, where: str, depth: int = 0) -> list[str]:
    """One problem: where in the request, what is wrong, and the rule (keyword, value, schema
    path) that failed; the alternatives of a failed anyOf/oneOf indented below it."""
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
    rule = f"{e.validator}: {_short(e.validator_value, 80)}"
    schema_at = "/".join(str(p) for p in e.absolute_schema_path)
    v, inst = e.validator, e.instance
    if v == CLOSED:
        rule = "closed object (spec_validate: only declared properties)"
        msg = e.message
    elif v in ("maxItems", "minItems") and isinstance(inst, list):
        msg = f"{len(inst)} items"
    elif v in ("maxLength", "minLength") and isinstance(inst, str):
        msg = f"{len(inst)} characters"
    elif v == "type":
        msg = f"{_short(inst)} is not of type {_short(e.validator_value)}"
    elif v == "enum":
        msg = f"{_short(inst)} is not one of {_short(e.validator_value, 200)}"
    elif v == "format":
        msg = f"{_short(inst)} is not a {e.validator_value!r}"
    elif v in ("anyOf", "oneOf"):
        msg = f"matches {'none' if v == 'anyOf' or not e.context else 'not exactly one'} of the alternatives"
    elif v in ("required", "readOnly", "dependentRequired", "dependencies"):
        msg = e.message
    else:
        msg = e.message if len(e.message) <= 200 else e.message[:199] + "…"
    pad = "    " * depth
    out = [f"{pad}{where}{path}: {msg} [rule {rule}; schema {schema_at}]"]
    for sub in (e.context or [])[:6]:
        out.extend(_describe(sub, where, depth + 1))
    return out


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    t = schema.get("type")
    if isinstance(t, list):
        for one in t:
            try:
                return _coerce(value, {**schema, "type": one})
            except ValueError:
                continue
        return value
    if t == "integer":
        if not re.fullmatch(r"[+-]?\d+", value):
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    if t == "number":
        try:
            return float(value) if re.search(r"[.eE]", value) else int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if t == "boolean":
        if value not in ("true", "false"):
            raise ValueError(f"{value!r} is not a boolean (true|false)")
        return value == "true"
    return value


def split_collection(values: list[str], fmt: str) -> list[str]:
    """A Swagger 2.0 array parameter's items: `collectionFormat` csv (the default), ssv, tsv,
    pipes, or multi (the parameter repeated)."""
    if fmt == "multi":
        return values
    sep = {"csv": ",", "ssv": " ", "tsv": "\t", "pipes": "|"}.get(fmt, ",")
    out: list[str] = []
    for v in values:
        out.extend(v.split(sep) if v != "" else [])
    return out


def _param_schema(p: dict[str, Any], oas3: bool) -> dict[str, Any]:
    if oas3:
        return dict(p.get("schema") or {})
    keys = (
        "type", "format", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "pattern", "items", "minItems", "maxItems", "uniqueItems",
        "multipleOf",
    )
    schema = {k: p[k] for k in keys if k in p}
    if schema.get("type") == "string" and schema.get("format") == "csv":
        # Constant Contact's convention for list-valued parameters (`include`, `status` of
        # GET /contacts: "one or more comma separated values", "Use a comma to separate
        # multiple sub-resources"): `type: string, format: csv` with the enum of one value.
        # Read as what it declares: a csv array of those values.
        item = {k: v for k, v in schema.items() if k not in ("type", "format")}
        return {"type": "array", "items": {"type": "string", **item}, "x-collection-format": "csv"}
    return schema


def _param_pattern(name: str) -> re.Pattern[str]:
    # ActiveCampaign names templated parameters `filters[name][<operator>]`.
    parts = re.split(r"(<[^>]+>)", name)
    rx = "".join(r"[^\]]+" if part.startswith("<") else re.escape(part) for part in parts)
    return re.compile("^" + rx + "$")


class Checker:
    def __init__(self, spec: Spec):
        self.spec = spec

    def check(self, req: Request) -> Verdict:
        v = self.spec.vendor
        if not req.path.startswith(v.base + "/") and req.path != v.base:
            for prefix, why in v.out_of_scope:
                if req.path.startswith(prefix):
                    return Verdict(ok=True, skipped=why)
            return Verdict(ok=False, problems=[f"path is not under the API base path {v.base}"])
        rel = req.path[len(v.base):] or "/"
        matches = self.spec.match(rel)
        if not matches:
            return Verdict(ok=False, problems=[f"no path of the spec matches {rel}"])
        chosen = None
        for template, values in matches:
            op = self.spec.paths[template].get(req.method)
            if op is not None:
                chosen = (op, values)
                break
        if chosen is None:
            allowed = {t: sorted(self.spec.paths[t]) for t, _ in matches}
            return Verdict(
                ok=False,
                problems=[f"method {req.method} is not defined for {rel}: the spec has {allowed}"],
            )
        op, values = chosen
        problems: list[str] = []
        problems += self._check_path_params(op, values)
        problems += self._check_query(op, req.query)
        problems += self._check_body(op, req)
        return Verdict(ok=not problems, op=op, problems=problems)

    # ---- parameters

    def _validate_value(self, op: Operation, where: str, schema: dict[str, Any], value: Any) -> list[str]:
        return self._errors(self.spec.validator(op, "", schema), value, where)

    def _check_path_params(self, op: Operation, values: dict[str, str]) -> list[str]:
        out = []
        declared = {p["name"]: p for p in op.params if p.get("in") == "path"}
        for name, raw in values.items():
            p = declared.get(name)
            if p is None:
                # Some specs leave path parameters undeclared: the template still says string.
                continue
            schema = _param_schema(p, op.oas3)
            try:
                value = _coerce(raw, schema)
            except ValueError as e:
                out.append(f"path parameter {name}: {e}")
                continue
            out += self._validate_value(op, f"path parameter {name}", schema, value)
        return out

    def _check_query(self, op: Operation, query: str | None) -> list[str]:
        out = []
        pairs = urllib.parse.parse_qsl(query or "", keep_blank_values=True)
        sent: dict[str, list[str]] = OrderedDict()
        for k, val in pairs:
            sent.setdefault(k, []).append(val)
        declared = [p for p in op.params if p.get("in") == "query"]
        for name, vals in sent.items():
            p = next((d for d in declared if d.get("name") == name), None)
            if p is None:
                p = next((d for d in declared if "<" in d.get("name", "") and _param_pattern(d["name"]).match(name)), None)
            if p is None:
                out.append(f"query parameter {name!r} is not declared by the operation")
                continue
            schema = _param_schema(p, op.oas3)
            try:
                if schema.get("type") == "array":
                    if op.oas3:
                        items = vals if p.get("explode", p.get("style", "form") == "form") else split_collection(vals, "csv")
                    else:
                        items = split_collection(vals, p.get("collectionFormat", "csv"))
                    item_schema = schema.get("items") or {}
                    value: Any = [_coerce(i, item_schema) for i in items]
                else:
                    if len(vals) > 1:
                        out.append(f"query parameter {name!r} sent {len(vals)} times, declared once")
                        continue
                    value = _coerce(vals[0], schema)
            except ValueError as e:
                out.append(f"query parameter {name!r}: {e}")
                continue
            out += self._validate_value(op, f"query parameter {name!r}", schema, value)
        for p in declared:
            if p.get("required") and p["name"] not in sent:
                out.append(f"required query parameter {p['name']!r} missing")
        return out

    # ---- body

    def _check_body(self, op: Operation, req: Request) -> list[str]:
        return self._body_oas3(op, req) if op.oas3 else self._body_swagger2(op, req)

    def _parse_json(self, req: Request) -> tuple[Any, str | None]:
        try:
            return json.loads(req.body.decode("utf-8")), None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return None, f"body is not JSON: {e}"

    def _body_swagger2(self, op: Operation, req: Request) -> list[str]:
        body_params = [p for p in op.params if p.get("in") == "body"]
        form_params = [p for p in op.params if p.get("in") == "formData"]
        consumes = op.op.get("consumes") or op.doc.get("consumes") or ["application/json"]
        has_body = len(req.body) > 0
        if not has_body:
            out = []
            if body_params and body_params[0].get("required"):
                out.append("required request body missing")
            for p in form_params:
                if p.get("required"):
                    out.append(f"required form field {p['name']!r} missing")
            return out
        if not body_params and not form_params:
            return [f"the operation takes no request body, {len(req.body)} bytes sent"]
        sent = _media(req.content_type)
        if not any(_media_matches(sent, c) for c in consumes):
            return [f"Content-Type {req.content_type!r} is not one the operation consumes {consumes}"]
        if body_params:
            p = body_params[0]
            if sent != "application/json" and not sent.endswith("+json"):
                return [f"Content-Type {req.content_type!r}: only JSON bodies are checked"]
            body, err = self._parse_json(req)
            if err:
                return [err]
            if "schema" not in p:
                return []
            val = self.spec.validator(op, op.param_pointers[id(p)] + "/schema")
            return self._errors(val, body, "body")
        # formData
        if sent not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return [f"Content-Type {req.content_type!r}: form fields expected"]
        return self._form(op, req, {p["name"]: p for p in form_params}, lambda p: _param_schema(p, False))

    def _body_oas3(self, op: Operation, req: Request) -> list[str]:
        rb = op.op.get("requestBody")
        rb_pointer = f"{op.pointer}/requestBody"
        if isinstance(rb, dict) and "$ref" in rb:
            rb_pointer = rb["$ref"][1:]
            rb = _resolve_ref(op.doc, rb)
        has_body = len(req.body) > 0
        if not has_body:
            return ["required request body missing"] if rb and rb.get("required") else []
        if not rb:
            return [f"the operation takes no request body, {len(req.body)} bytes sent"]
        content = rb.get("content") or {}
        sent = _media(req.content_type)
        declared = next((c for c in content if _media_matches(sent, c)), None)
        if declared is None:
            return [f"Content-Type {req.content_type!r} is not one the operation accepts {list(content)}"]
        media = content[declared] or {}
        if "schema" not in media:
            return []
        pointer = f"{rb_pointer}/content/{_esc(declared)}/schema"
        if sent == "application/json" or sent.endswith("+json"):
            body, err = self._parse_json(req)
            if err:
                return [err]
            return self._errors(self.spec.validator(op, pointer), body, "body")
        if sent == "application/x-www-form-urlencoded":
            schema = _resolve_ref(op.doc, media["schema"])
            props = {k: _resolve_ref(op.doc, v) for k, v in (schema.get("properties") or {}).items()}
            fields, problems = self._form_values(req, props)
            if problems:
                return problems
            return self._errors(self.spec.validator(op, pointer), fields, "form")
        return [f"Content-Type {req.content_type!r}: bodies of this type are not checked"]

    def _form_values(self, req: Request, props: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        try:
            pairs = urllib.parse.parse_qsl(req.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as e:
            return {}, [f"form body is not UTF-8: {e}"]
        out: dict[str, Any] = {}
        problems = []
        for k, v in pairs:
            schema = props.get(k) or {}
            try:
                value = _coerce(v, schema if schema.get("type") != "array" else schema.get("items") or {})
            except ValueError as e:
                problems.append(f"form field {k!r}: {e}")
                continue
            if schema.get("type") == "array":
                out.setdefault(k, []).append(value)
            else:
                out[k] = value
        return out, problems

    def _form(self, op: Operation, req: Request, params: dict[str, Any], schema_of: Callable[[Any], Any]) -> list[str]:
        fields, problems = self._form_values(req, {k: schema_of(p) for k, p in params.items()})
        for k in fields:
            if k not in params:
                problems.append(f"form field {k!r} is not declared by the operation")
        for k, p in params.items():
            if p.get("required") and k not in fields:
                problems.append(f"required form field {k!r} missing")
            elif k in fields:
                problems += self._validate_value(op, f"form field {k!r}", schema_of(p), fields[k])
        return problems

    def _errors(self, validator: Any, instance: Any, where: str) -> list[str]:
        errs = sorted(validator.iter_errors(instance), key=lambda e: [str(x) for x in e.absolute_path])
        return ["\n".join(_describe(e, where)) for e in errs]


# --------------------------------------------------------------------------------------------
# Runs


def mailchimp_batch_operations(req: Request, base: str) -> list[Request]:
    """The requests a Mailchimp `POST /batches` stands for."""
    try:
        body = json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    out = []
    for i, o in enumerate(body.get("operations") or []):
        if not isinstance(o, dict):
            continue
        params = o.get("params") or {}
        query = urllib.parse.urlencode(
            [(k, ",".join(map(str, v)) if isinstance(v, list) else str(v)) for k, v in params.items()]
        ) if isinstance(params, dict) else None
        b = o.get("body")
        out.append(
            Request(
                method=str(o.get("method", "")).upper(),
                path=base + "/" + str(o.get("path", "")).lstrip("/"),
                query=query or None,
                content_type="application/json" if b else None,
                body=b.encode("utf-8") if isinstance(b, str) else (json.dumps(b).encode() if b is not None else b""),
                label=f"{req.show()} operations[{i}]",
            )
        )
    return out


@dataclass
class VendorRun:
    vendor: VendorSpec
    raw_docs: dict[str, Any]  # as published
    corrections: list[Correction]
    specs: dict[str, Spec] = field(default_factory=dict)  # "all", "none", "-<correction id>"
    checked: int = 0
    in_batches: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # (operation or path, its problems) -> [count, first request]: requests failing the same
    # way (items' indices aside) are reported once.
    failures: dict[tuple[str, tuple[str, ...]], list[Any]] = field(default_factory=OrderedDict)
    failed_requests: int = 0
    operations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # correction id(s) -> [count, first request, problems of the spec without it]
    excused: dict[str, list[Any]] = field(default_factory=OrderedDict)
    excused_requests: int = 0

    def spec(self, which: str = "all") -> Spec:
        """The spec with every correction ("all"), none ("none"), or all but one ("-<id>")."""
        if which not in self.specs:
            docs = json.loads(json.dumps(self.raw_docs))
            for c in self.corrections:
                if which == "all" or (which != "none" and which != f"-{c.id}"):
                    c.apply(docs)
            for doc in docs.values():
                close_objects(doc)
            self.specs[which] = Spec(self.vendor, docs)
        return self.specs[which]

    def run(self, req: Request) -> None:
        self.checked += 1
        if req.label:
            self.in_batches += 1
        verdict = Checker(self.spec()).check(req)
        shown = req.label or req.show()
        if verdict.skipped:
            self.skipped[verdict.skipped] += 1
            return
        if verdict.op is not None:
            self.operations[verdict.op.key] += 1
        if not verdict.ok:
            self.failed_requests += 1
            key_op = verdict.op.where if verdict.op else f"{req.method} {req.path}"
            problems = tuple(OrderedDict.fromkeys(re.sub(r"\[\d+\]", "[*]", p) for p in verdict.problems))
            slot = self.failures.setdefault((key_op, problems), [0, shown])
            slot[0] += 1
        elif verdict.op is not None:
            self._attribute(req, verdict.op, shown)
        if self.vendor.name == "mailchimp" and verdict.op is not None and verdict.op.key == "POST /batches" and verdict.ok:
            for sub in mailchimp_batch_operations(req, self.vendor.base):
                self.run(sub)

    def _attribute(self, req: Request, op: Operation, shown: str) -> None:
        """Which corrections a conforming request needed: those without which it fails."""
        original = Checker(self.spec("none")).check(req)
        if original.ok:
            return
        applicable = [c for c in self.corrections if (op.method, op.template) in c.operations]
        needed = []
        for c in applicable:
            without = Checker(self.spec(f"-{c.id}")).check(req)
            if not without.ok:
                needed.append((c.id, without.problems))
        if not needed:
            # Passes with every correction, fails with none, and no single one is decisive:
            # several corrections each suffice.
            key = " + ".join(c.id for c in applicable) or "(no correction lists this operation)"
            needed = [(key, original.problems)]
            if not applicable:
                self.failed_requests += 1
                self.failures.setdefault((op.where, ("passes only thanks to an unlisted spec change",)), [0, shown])[0] += 1
                return
        self.excused_requests += 1
        for cid, problems in needed:
            slot = self.excused.setdefault(cid, [0, shown, problems])
            slot[0] += 1


def vendor_of(path: str) -> str | None:
    for name, v in VENDORS.items():
        if path == v.base or path.startswith(v.base + "/"):
            return name
        if any(path.startswith(p) for p, _ in v.out_of_scope):
            return name
    return None


def read_requests(src: str) -> list[dict[str, Any]]:
    text = sys.stdin.read() if src == "-" else open(src, encoding="utf-8").read()
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def build(specs_dir: str, name: str) -> VendorRun:
    vendor = VENDORS[name]
    run = VendorRun(
        vendor=vendor,
        raw_docs=load_docs(specs_dir, vendor),
        corrections=[c for c in CORRECTIONS if c.vendor == name],
    )
    run.spec()  # loads and corrects now: a correction that no longer fits fails here
    return run


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vendor", required=True, choices=[*VENDORS, "auto"])
    ap.add_argument("--specs", default=os.environ.get("PAYSYNC_SPECS", DEFAULT_SPECS))
    ap.add_argument("--input", default="-")
    ap.add_argument("--require-exercised", action="store_true",
                    help="fail when a correction of the vendor was not needed by any request")
    ap.add_argument("--expect-operations", nargs="*", default=[],
                    help="'METHOD /template' operations that must have been exercised")
    ap.add_argument("--json-report", help="also write a machine-readable report here")
    ap.add_argument("--max-problems", type=int, default=60)
    args = ap.parse_args(argv)

    try:
        raw = read_requests(args.input)
    except (OSError, json.JSONDecodeError) as e:
        print(f"spec_validate: cannot read the requests: {e}", file=sys.stderr)
        return 2

    runs: dict[str, VendorRun] = OrderedDict()
    not_checked = 0
    for r in raw:
        req = Request.from_json(r)
        name = args.vendor if args.vendor != "auto" else vendor_of(req.path)
        if name is None:
            not_checked += 1
            continue
        try:
            if name not in runs:
                runs[name] = build(args.specs, name)
        except (OSError, ValueError, yaml.YAMLError, SpecError, KeyError) as e:
            print(f"spec_validate: cannot use the {name} spec under {args.specs}: {e}", file=sys.stderr)
            return 2
        runs[name].run(req)
    if args.vendor != "auto" and args.vendor not in runs:
        try:
            runs[args.vendor] = build(args.specs, args.vendor)
        except (OSError, ValueError, yaml.YAMLError, SpecError, KeyError) as e:
            print(f"spec_validate: cannot use the {args.vendor} spec under {args.specs}: {e}", file=sys.stderr)
            return 2

    failed = False
    lines: list[str] = []
    report: dict[str, Any] = {"vendors": {}, "not_checked": not_checked}
    for name, run in runs.items():
        lines.append(
            f"== {name}: {run.checked} requests checked"
            + (f" ({run.in_batches} of them operations inside POST /batches)" if run.in_batches else "")
            + f" against {', '.join(run.vendor.files)}"
        )
        for why, n in run.skipped.items():
            lines.append(f"   not in the spec's scope, not checked: {n} ({why})")
        if run.failures:
            failed = True
            lines.append(f"   MISMATCHES: {run.failed_requests} request(s) do not conform:")
            for i, ((where, problems), (n, first)) in enumerate(run.failures.items()):
                if i >= args.max_problems:
                    lines.append(f"   … and {len(run.failures) - i} more")
                    break
                lines.append(f"   - {first}" + (f"   (and {n - 1} more failing the same way)" if n > 1 else ""))
                lines.append(f"       spec: {where}")
                for problem in problems:
                    for line in problem.split("\n"):
                        lines.append(f"       {line}")
        excused_lines = []
        used = {cid for key in run.excused for cid in key.split(" + ")}
        unexercised = [c for c in run.corrections if c.id not in used]
        for key, (n, first, problems) in run.excused.items():
            c = next((c for c in run.corrections if c.id == key), None)
            excused_lines.append(f"   - {key} ({n} request(s), e.g. {first})" + (f": {c.spec}" if c else ""))
            for p in problems[:3]:
                for j, line in enumerate(p.split("\n")):
                    excused_lines.append(f"       {'without it: ' if j == 0 else '            '}{line}")
        if excused_lines:
            lines.append("   allowed by spec corrections (see CORRECTIONS in scripts/spec_validate.py):")
            lines.extend(excused_lines)
        for c in unexercised:
            lines.append(f"   correction {c.id} was not needed by any request" +
                         (" — ERROR (--require-exercised)" if args.require_exercised else ""))
            if args.require_exercised:
                failed = True
        missing = [o for o in args.expect_operations if o not in run.operations]
        if args.vendor != "auto" and missing:
            failed = True
            lines.append(f"   NOT EXERCISED (expected): {', '.join(missing)}")
        lines.append("   operations exercised: " + ", ".join(f"{k} ×{v}" for k, v in sorted(run.operations.items())))
        lines.append(
            f"   spec conformance {name}: {run.checked} checked, {run.failed_requests} not conforming, "
            f"{run.excused_requests} conforming thanks to corrections"
        )
        report["vendors"][name] = {
            "checked": run.checked,
            "failed_requests": run.failed_requests,
            "failures": [{"operation": w, "problems": list(p), "count": n, "example": f} for (w, p), (n, f) in run.failures.items()],
            "operations": dict(run.operations),
            "excused": {k: {"count": v[0], "example": v[1], "original_problems": v[2]} for k, v in run.excused.items()},
            "unexercised_corrections": [c.id for c in unexercised],
            "skipped": dict(run.skipped),
        }
    if not_checked:
        lines.append(f"== {not_checked} request(s) of no checked vendor (e.g. Stripe's /v1) not checked")
    print("\n".join(lines))
    if args.json_report:
        with open(args.json_report, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
