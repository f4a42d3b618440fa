// paysync's dashboard: a thin client of the management API (/api/v1, /api/openapi.json).
// Everything shown is built with textContent, never parsed as HTML.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;

async function api(method, path, body) {
  const options = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) {
    location.href = "/login";
    throw new Error("You were signed out.");
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (!response.ok) {
    const e = data && data.error;
    let message = e ? e.message : response.statusText;
    if (e && e.problems && e.problems.length) {
      message += ": " + e.problems.map((p) => `${p.path} ${p.message}`).join("; ");
    }
    throw new Error(message);
  }
  return data;
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fill(tbody, rows, empty) {
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 9, class: "help" }, empty))]));
}

function notice(text, bad) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.className = bad ? "bad" : "";
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

// Runs an action, reporting its failure instead of losing it.
function guarded(action) {
  return async (event) => {
    if (event) event.preventDefault();
    try { await action(event); } catch (e) { notice(e.message, true); }
  };
}

const when = (ms) => (ms ? new Date(ms).toLocaleString() : "never");

// ---- navigation ------------------------------------------------------------------------------

const loaders = {};

function show() {
  const page = (location.hash || "#overview").slice(1);
  for (const section of document.querySelectorAll(".page")) {
    section.classList.toggle("shown", section.id === page);
  }
  for (const link of document.querySelectorAll("header nav a")) {
    link.classList.toggle("active", link.getAttribute("href") === "#" + page);
  }
  if (loaders[page]) guarded(loaders[page])();
}

window.addEventListener("hashchange", show);

// ---- overview --------------------------------------------------------------------------------

loaders.overview = async () => {
  const data = await api("GET", "/api/v1/overview");
  const accounts = document.getElementById("overview-accounts");
  accounts.replaceChildren(...data.accounts.map((a) => {
    const backfill = (a.backfill || []).map((b) => el("div", {},
      `${b.resource}: ${b.stored} read${b.done ? ", done" : b.skipped ? `, skipped (${b.skipped})` : ", in progress"}`));
    const held = (a.held || []).map((h) => el("div", {}, `${h.sync}: ${h.count} held (${h.reason})`));
    return el("div", { class: "account" },
      el("h3", {}, `Stripe account ${a.account} (${a.mode})`),
      el("span", { class: "metric" }, el("b", {}, a.events), "events"),
      el("span", { class: "metric" }, el("b", {}, a.pending_events), "waiting to apply"),
      el("span", { class: "metric" }, el("b", {}, a.customers_without_email), "customers without email"),
      el("span", { class: "metric" }, el("b", {}, when(a.last_webhook_at)), "last webhook"),
      el("h4", {}, "History"), backfill.length ? backfill : el("p", { class: "help" }, "Not read yet."),
      backfillForm(a.account),
      held.length ? el("h4", {}, "Held back") : null, held);
  }));
  fill(document.querySelector("#overview-destinations tbody"), data.destinations.map((d) =>
    el("tr", {}, el("td", {}, d.name), el("td", {}, d.kind),
      el("td", {}, d.outbox ? d.outbox.pending : 0), el("td", {}, d.outbox ? d.outbox.in_flight : 0),
      el("td", {}, d.outbox ? d.outbox.dead : 0))), "No destination yet: connect one under Destinations.");
  fill(document.querySelector("#overview-syncs tbody"), data.syncs.map((s) =>
    el("tr", {}, el("td", {}, s.name), el("td", {}, s.account), el("td", {}, s.destination),
      el("td", {}, s.consent), el("td", {}, s.segments), el("td", {}, s.contacts))), "No sync yet: add one under Syncs & segments.");
};

// Reads an account's history (resumable; progress shows above as it goes).
function backfillForm(account) {
  const choice = el("select", { name: "window" },
    option("days", "the last … days", true), option("since", "since the date …"), option("all", "all of it"));
  const value = el("input", { name: "value", value: "180", placeholder: "180 or 2024-01-31" });
  choice.addEventListener("change", () => {
    value.hidden = choice.value === "all";
    value.value = choice.value === "days" ? "180" : "";
  });
  return el("form", { class: "filters", "data-backfill": account, onsubmit: guarded(async () => {
    const body = choice.value === "all" ? { all: true }
      : choice.value === "days" ? { days: parseInt(value.value, 10) } : { since: value.value.trim() };
    await api("POST", `/api/v1/accounts/${encodeURIComponent(account)}/backfill`, body);
    notice(`Reading the history of ${account}: progress shows here as it goes.`);
  }) }, el("label", {}, "Read history from Stripe", choice), el("label", {}, "\u00a0", value),
  el("button", { type: "submit" }, "Start backfill"));
}

// ---- destinations ----------------------------------------------------------------------------

loaders.destinations = async () => {
  const data = await api("GET", "/api/v1/destinations");
  fill(document.querySelector("#destination-list tbody"), data.destinations.map((d) =>
    el("tr", {}, el("td", {}, d.name, d.running ? "" : " (starting…)"), el("td", {}, d.kind),
      el("td", {}, d.managed ? "dashboard" : "configuration file"),
      el("td", {}, d.managed ? el("button", {
        type: "button", class: "danger small", "data-disconnect": d.name,
        onclick: guarded(async () => {
          if (!confirm(`Disconnect ${d.name}? Its syncs stop; contacts already there stay.`)) return;
          await api("DELETE", `/api/v1/destinations/${encodeURIComponent(d.name)}`);
          notice(`${d.name} disconnected.`);
          await loaders.destinations();
        }),
      }, "Disconnect") : ""))), "No destination yet.");
};

// The form's filled-in fields as an object (checkboxes as booleans, empty fields left out).
function formObject(form) {
  const out = {};
  for (const input of form.querySelectorAll("input, select")) {
    if (!input.name) continue;
    if (input.type === "checkbox") out[input.name] = input.checked;
    else if (input.value.trim() !== "") out[input.name] = input.value.trim();
  }
  return out;
}

for (const id of ["connect-mailchimp", "connect-activecampaign"]) {
  document.getElementById(id).addEventListener("submit", guarded(async (event) => {
    const form = event.target;
    const body = formObject(form);
    notice(`Checking the ${body.kind} credentials…`);
    await api("POST", "/api/v1/destinations", body);
    notice(`${body.name} connected.`);
    form.reset();
    await loaders.destinations();
  }));
}

document.getElementById("connect-constant-contact").addEventListener("submit", guarded(async (event) => {
  const answer = await api("POST", "/api/v1/oauth/constant-contact", formObject(event.target));
  location.href = answer.authorize_url;
}));

// ---- syncs and segments ----------------------------------------------------------------------

// Rules a segment can use, with the value each asks for; anything else is edited as JSON.
const RULES = [
  { id: "paid", label: "Paid (ever)", rule: () => ({ charged: {} }) },
  { id: "paid_within", label: "Paid in the last … days", value: "30", rule: (v) => ({ charged: { within: `${parseInt(v, 10)}d` } }) },
  { id: "total_at_least", label: "Paid in total at least … (e.g. 50 usd)", value: "50 usd", rule: (v) => {
    const [amount, currency] = v.trim().split(/\s+/);
    return { charged: { currency: (currency || "usd").toLowerCase(), total: { gte: Math.round(parseFloat(amount) * 100) } } };
  } },
  { id: "failed", label: "A payment failed", rule: () => ({ payment_failed: {} }) },
  { id: "refunded", label: "Was refunded", rule: () => ({ refunded: {} }) },
  { id: "has_subscriptions", label: "Has a subscription", rule: () => "has_subscriptions" },
  { id: "plan", label: "Subscribed to plan (price id) …", value: "price_…", rule: (v) => ({ subscribed: { plan: [v.trim()] } }) },
  { id: "cancelled", label: "Cancelled a subscription", rule: () => ({ cancelled: {} }) },
  { id: "custom", label: "Custom rule (JSON)", value: "{}", rule: (v) => JSON.parse(v) },
];

// The preset a stored rule came from, and its value, so that it shows as it was chosen.
function presetOf(rule) {
  const json = JSON.stringify(rule);
  for (const preset of RULES) {
    if (preset.id === "custom") continue;
    if (!preset.value && JSON.stringify(preset.rule("")) === json) return [preset.id, ""];
  }
  const c = rule && rule.charged;
  if (c && Object.keys(c).length === 1 && /^\d+d$/.test(c.within || "")) return ["paid_within", c.within.slice(0, -1)];
  if (c && c.total && c.total.gte !== undefined && Object.keys(c).length === 2 && c.currency) return ["total_at_least", `${c.total.gte / 100} ${c.currency}`];
  const s = rule && rule.subscribed;
  if (s && Object.keys(s).length === 1 && s.plan && s.plan.length === 1) return ["plan", s.plan[0]];
  return ["custom", JSON.stringify(rule)];
}

// Profile values a field can be filled with.
const SOURCES = [
  ["name", "Full name"], ["first_name", "First name"], ["last_name", "Last name"], ["phone", "Phone"],
  ["customer_id", "Stripe customer id"], ["address.city", "City"], ["address.country", "Country"],
  ["first_payment_at", "First payment date"], ["last_payment_at", "Last payment date"],
  ["failed_payments", "Failed payments"], ["last_failure.code", "Last failure reason"],
  ["subscription.status", "Subscription status"], ["subscription.plan", "Subscription plan"],
  ["subscription.current_period_end", "Subscription renews"], ["paid.usd", "Total paid (USD, cents)"],
  ["refunded.usd", "Total refunded (USD, cents)"], ["metadata:", "Stripe metadata key …"], ["value:", "Fixed text …"],
  ["json:", "Custom (JSON: from, template, value, transform) …"],
];

// A sync's settings the editor has no controls for, edited as JSON as the configuration file
// writes them.
const ADVANCED_KEYS = ["filter", "event_tags", "coalesce_ms", "opt_in", "prior_consent", "on_delete", "two_way"];

const editor = document.getElementById("sync-editor");
let editing = null; // the sync's stored configuration, kept for the keys the editor does not show
let catalogFields = [];

function option(value, label, selected) {
  return el("option", { value, selected: selected || false }, label);
}

function segmentRow(segment) {
  const [presetId, value] = segment ? presetOf(segment.rule) : ["paid", ""];
  const preset = RULES.find((r) => r.id === presetId);
  const valueInput = el("input", { name: "value", value: value || preset.value || "", placeholder: preset.value || "" });
  valueInput.disabled = !preset.value;
  const ruleSelect = el("select", { name: "rule", onchange: () => {
    const chosen = RULES.find((r) => r.id === ruleSelect.value);
    valueInput.disabled = !chosen.value;
    valueInput.value = chosen.value || "";
  } }, RULES.map((r) => option(r.id, r.label, r.id === presetId)));
  const isTag = segment ? segment.tag !== undefined : false;
  return el("tr", { class: "segment" },
    el("td", {}, el("input", { name: "segment_name", required: true, value: segment ? segment.name : "", placeholder: "Recent buyers" })),
    el("td", {}, el("select", { name: "target" }, option("list", "List", !isTag), option("tag", "Tag", isTag))),
    el("td", {}, el("input", { name: "target_name", required: true, value: segment ? (segment.tag ?? segment.list) : "", placeholder: "recent-buyers" })),
    el("td", {}, ruleSelect),
    el("td", {}, valueInput),
    el("td", { class: "members" }, "–"),
    el("td", {}, el("button", { type: "button", class: "small secondary", onclick: (e) => e.target.closest("tr").remove() }, "Remove")));
}

function sourceOf(mapping) {
  if (mapping.template !== undefined || (mapping.transform && mapping.transform.length)) {
    const { to, ...rest } = mapping;
    return ["json:", JSON.stringify(rest)];
  }
  if (mapping.value !== undefined) return ["value:", mapping.value];
  if (mapping.from && mapping.from.startsWith("metadata.")) return ["metadata:", mapping.from.slice(9)];
  return [mapping.from || "name", ""];
}

function fieldRow(mapping) {
  const [source, extra] = mapping ? sourceOf(mapping) : ["first_name", ""];
  const known = catalogFields.map((f) => f.key || f.name);
  const target = known.length
    ? el("select", { name: "to" }, known.map((k) => option(k, k, mapping && mapping.to === k)),
      mapping && !known.includes(mapping.to) ? option(mapping.to, mapping.to, true) : null)
    : el("input", { name: "to", required: true, value: mapping ? mapping.to : "", placeholder: "field key" });
  const extraInput = el("input", { name: "extra", value: extra, placeholder: "key or text" });
  extraInput.hidden = !source.endsWith(":");
  const sourceSelect = el("select", { name: "source", onchange: () => { extraInput.hidden = !sourceSelect.value.endsWith(":"); } },
    SOURCES.map(([v, label]) => option(v, label, v === source)));
  return el("tr", { class: "field" }, el("td", {}, target),
    el("td", {}, sourceSelect, extraInput),
    el("td", {}, el("button", { type: "button", class: "small secondary", onclick: (e) => e.target.closest("tr").remove() }, "Remove")));
}

async function loadCatalog(destination) {
  catalogFields = [];
  if (!destination) return;
  try {
    const catalog = await api("GET", `/api/v1/destinations/${encodeURIComponent(destination)}/catalog`);
    catalogFields = catalog.fields || [];
  } catch (e) {
    notice(`The destination's fields could not be read (${e.message}); type field keys instead.`, true);
  }
}

// A configuration without the keys that only spell out a default (null, an empty list).
function compact(value) {
  if (Array.isArray(value)) return value.map(compact);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value)
    .filter(([, v]) => v !== null && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => [k, compact(v)]));
}

async function openEditor(entry) {
  editing = entry ? compact(entry.config) : null;
  const overview = await api("GET", "/api/v1/overview");
  const form = editor;
  const config = editing || {};
  form.elements.name.value = config.name || "";
  form.elements.name.readOnly = Boolean(entry);
  form.elements.account.replaceChildren(...overview.accounts.map((a) => option(a.account, a.account, a.account === config.account)));
  form.elements.destination.replaceChildren(...overview.destinations.map((d) => option(d.name, `${d.name} (${d.kind})`, d.name === config.destination)));
  form.elements.consent.value = config.consent === "subscribed" ? "subscribed" : "non_marketing";
  form.elements.payment_activity_lists.checked = Boolean(config.payment_activity_lists);
  await loadCatalog(form.elements.destination.value);
  document.querySelector("#segments tbody").replaceChildren(...(config.segments || []).map(segmentRow));
  document.querySelector("#fields tbody").replaceChildren(...(config.fields || []).map(fieldRow));
  const advanced = Object.fromEntries(ADVANCED_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]]));
  form.elements.advanced.value = Object.keys(advanced).length ? JSON.stringify(advanced, null, 2) : "";
  document.getElementById("sync-editor-title").textContent = entry ? `Sync ${config.name}` : "New sync";
  document.getElementById("impact").hidden = true;
  const readOnly = entry && !entry.managed;
  form.querySelector('button[type="submit"]').hidden = readOnly;
  if (readOnly) notice("This sync is in the configuration file: preview it here, change it there.");
  form.hidden = false;
  form.scrollIntoView({ behavior: "smooth" });
}

editor.elements.destination.addEventListener("change", guarded(async () => {
  await loadCatalog(editor.elements.destination.value);
  const rows = [...document.querySelectorAll("#fields tbody tr.field")].map(readField);
  document.querySelector("#fields tbody").replaceChildren(...rows.map(fieldRow));
}));

function readField(row) {
  const to = row.querySelector('[name="to"]').value.trim();
  const source = row.querySelector('[name="source"]').value;
  const extra = row.querySelector('[name="extra"]').value.trim();
  if (source === "json:") {
    try { return { to, ...JSON.parse(extra) }; } catch (e) {
      throw new Error(`Field ${to}: not valid JSON`);
    }
  }
  if (source === "value:") return { to, value: extra };
  if (source === "metadata:") return { to, from: `metadata.${extra}` };
  return { to, from: source };
}

// The sync as the editor shows it, over the stored configuration's other keys.
function readSync() {
  const form = editor;
  const sync = Object.assign({}, editing || {});
  sync.name = form.elements.name.value.trim();
  sync.account = form.elements.account.value || undefined;
  sync.destination = form.elements.destination.value;
  sync.consent = form.elements.consent.value;
  sync.payment_activity_lists = form.elements.payment_activity_lists.checked;
  sync.segments = [...document.querySelectorAll("#segments tbody tr.segment")].map((row) => {
    const preset = RULES.find((r) => r.id === row.querySelector('[name="rule"]').value);
    let rule;
    try { rule = preset.rule(row.querySelector('[name="value"]').value); } catch (e) {
      throw new Error(`Segment "${row.querySelector('[name="segment_name"]').value}": the rule is not valid JSON`);
    }
    const segment = { name: row.querySelector('[name="segment_name"]').value.trim(), rule };
    segment[row.querySelector('[name="target"]').value] = row.querySelector('[name="target_name"]').value.trim();
    return segment;
  });
  sync.fields = [...document.querySelectorAll("#fields tbody tr.field")].map(readField);
  for (const key of ADVANCED_KEYS) delete sync[key];
  const advanced = form.elements.advanced.value.trim();
  if (advanced) {
    let parsed;
    try { parsed = JSON.parse(advanced); } catch (e) { throw new Error("Advanced settings: not valid JSON"); }
    const unknown = Object.keys(parsed).filter((k) => !ADVANCED_KEYS.includes(k));
    if (unknown.length) throw new Error(`Advanced settings: ${unknown.join(", ")} ${unknown.length > 1 ? "are" : "is"} set above`);
    Object.assign(sync, parsed);
  }
  return sync;
}

function showImpact(impact) {
  for (const row of document.querySelectorAll("#segments tbody tr.segment")) {
    const target = row.querySelector('[name="target"]').value;
    const name = row.querySelector('[name="target_name"]').value.trim();
    const counts = target === "tag" ? impact.tag_members : impact.list_members;
    row.querySelector(".members").textContent = String((counts && counts[name]) || 0);
  }
  const box = document.getElementById("impact");
  const moves = (kind, map) => Object.entries(map || {}).map(([name, m]) =>
    el("li", {}, `${kind} ${name}: ${m.join} join, ${m.leave} leave`));
  box.replaceChildren(
    el("h4", {}, "If saved now"),
    el("p", {}, `${impact.persons} people considered; ${impact.contacts_changed} contacts would change ` +
      `(${impact.new_contacts} new, ${impact.field_updates} with field updates); ${impact.held} held back; ` +
      `${impact.blocked_by_unsubscribe} list joins blocked because the person unsubscribed.`),
    el("ul", {}, moves("List", impact.lists), moves("Tag", impact.tags)));
  box.hidden = false;
}

document.getElementById("preview-sync").addEventListener("click", guarded(async () => {
  showImpact(await api("POST", "/api/v1/syncs/preview", readSync()));
}));

editor.addEventListener("submit", guarded(async () => {
  const sync = readSync();
  const answer = await api("PUT", `/api/v1/syncs/${encodeURIComponent(sync.name)}`, sync);
  notice(`Sync ${sync.name} ${answer.created ? "created" : "saved"}: paysync is applying it now.`);
  editing = sync;
  editor.elements.name.readOnly = true;
  await loaders.syncs();
}));

document.getElementById("add-segment").addEventListener("click", () => {
  document.querySelector("#segments tbody").append(segmentRow(null));
});
document.getElementById("add-field").addEventListener("click", () => {
  document.querySelector("#fields tbody").append(fieldRow(null));
});
document.getElementById("new-sync").addEventListener("click", guarded(() => openEditor(null)));
document.getElementById("close-sync").addEventListener("click", () => { editor.hidden = true; });

loaders.syncs = async () => {
  const data = await api("GET", "/api/v1/syncs");
  fill(document.querySelector("#sync-list tbody"), data.syncs.map((s) =>
    el("tr", {}, el("td", {}, s.name), el("td", {}, s.config.destination),
      el("td", {}, s.managed ? "dashboard" : "configuration file"),
      el("td", {},
        el("button", { type: "button", class: "small secondary", onclick: guarded(() => openEditor(s)) }, s.managed ? "Edit" : "View"),
        s.managed ? el("button", { type: "button", class: "small danger", onclick: guarded(async () => {
          if (!confirm(`Remove sync ${s.name}? Contacts already synced stay in the destination.`)) return;
          await api("DELETE", `/api/v1/syncs/${encodeURIComponent(s.name)}`);
          notice(`Sync ${s.name} removed.`);
          await loaders.syncs();
        }) }, "Remove") : null))), "No sync yet.");
};

// ---- contacts, log, dead letters -------------------------------------------------------------

const REPORT_ROWS_SHOWN = 500;

loaders.contacts = async () => {
  const data = await api("GET", `/api/v1/report?limit=${REPORT_ROWS_SHOWN}`);
  document.getElementById("report").replaceChildren(...data.accounts.map((a) => el("div", {},
    el("h3", {}, `Stripe account ${a.account}: ${a.people} people`),
    el("table", { class: "report" },
      el("thead", {}, el("tr", {}, a.columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, a.rows.map((r) => el("tr", {}, r.map((cell) => el("td", {}, cell)))))),
    a.people > a.rows.length ? el("p", { class: "help" }, `The first ${a.rows.length} are shown; the CSV has everyone.`) : null)));
};

document.getElementById("log-filter").addEventListener("submit", guarded(() => loaders.log()));

loaders.log = async () => {
  const filters = new URLSearchParams(formObject(document.getElementById("log-filter")));
  filters.set("limit", "200");
  const data = await api("GET", `/api/v1/log?${filters}`);
  fill(document.querySelector("#log-entries tbody"), data.entries.map((e) =>
    el("tr", {}, el("td", {}, when(e.at)), el("td", {}, e.level), el("td", {}, e.kind), el("td", {}, e.message))),
  "Nothing logged with these filters.");
};

async function replay(body) {
  const answer = await api("POST", "/api/v1/dead-letters/replay", body);
  notice(`${answer.replayed} sent again.`);
  await loaders["dead-letters"]();
}

document.getElementById("replay-all").addEventListener("click", guarded(() => replay({ all: true })));

loaders["dead-letters"] = async () => {
  const data = await api("GET", "/api/v1/dead-letters");
  fill(document.querySelector("#dead-letter-list tbody"), data.dead_letters.map((d) =>
    el("tr", {}, el("td", {}, d.id), el("td", {}, d.person), el("td", {}, d.sync),
      el("td", {}, d.error || "no reason recorded"), el("td", {}, d.attempts),
      el("td", {}, el("button", { type: "button", class: "small", "data-replay": d.id, onclick: guarded(() => replay({ id: d.id })) }, "Replay")))),
  "No dead letters: everything was delivered or is on its way.");
};

document.getElementById("logout").addEventListener("click", guarded(async () => {
  await api("POST", "/logout");
  location.href = "/login";
}));

show();
