// Drives paysync's dashboard in Debian's Chromium as an operator would, for
// crates/paysync/tests/it/browser.rs: sign in, connect Mailchimp, create a sync with a segment,
// watch a contact arrive after a Stripe event, replay a dead letter, sign out. A screenshot is
// kept after each step in $ARTIFACTS.
//
// The Rust test acts on the world outside the browser: when this script prints
// "WAITING <step>" it does what the step needs (a Stripe event, a destination fault, its fix)
// and answers "GO [data]" on standard input.

import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("PAYSYNC_URL");
const artifacts = env("ARTIFACTS");
mkdirSync(artifacts, { recursive: true });

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function waitFor(step) {
  console.log(`WAITING ${step}`);
  const { value, done } = await lines.next();
  if (done || !value.startsWith("GO")) throw new Error(`no GO for ${step}: ${value}`);
  return value.slice(2).trim();
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  // As root in a container, and on a machine without outside network.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
let shot = 0;
const screenshot = (name) => page.screenshot({
  path: join(artifacts, `${String(++shot).padStart(2, "0")}-${name}.png`), fullPage: true,
});

// Opens a page of the dashboard until `ready` holds (data comes from the API as it changes).
async function until(hash, ready, what, seconds = 120) {
  const deadline = Date.now() + seconds * 1000;
  const target = `${base}/${hash}`;
  for (;;) {
    // Going to the URL the page is already at changes nothing (the same document, the same
    // hash): load it again so that its data is read again.
    if (page.url() === target) await page.reload();
    else await page.goto(target);
    await page.waitForLoadState("networkidle");
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(1000);
  }
}

async function notice(text) {
  await page.locator("#notice", { hasText: text }).waitFor({ timeout: 30000 });
}

try {
  // Sign in: strangers are sent to the login page.
  await page.goto(`${base}/`);
  await page.waitForURL(/\/login$/);
  await screenshot("login");
  await page.fill('input[name="username"]', env("PAYSYNC_USER"));
  await page.fill('input[name="password"]', env("PAYSYNC_PASSWORD"));
  await page.click('button[type="submit"]');
  await page.locator("#overview.shown").waitFor();
  await screenshot("overview");

  // Connect Mailchimp with its API key (checked live before it is saved).
  await page.click('a[href="#destinations"]');
  const form = page.locator("#connect-mailchimp");
  await form.locator('input[name="name"]').fill("mc");
  await form.locator('input[name="api_key"]').fill(env("MC_KEY"));
  await form.locator('input[name="list_id"]').fill(env("MC_AUDIENCE"));
  await form.locator("summary").click();
  await form.locator('input[name="api_base"]').fill(env("MC_API_BASE"));
  await form.locator('button[type="submit"]').click();
  await notice("mc connected");
  await page.locator("#destination-list tbody tr", { hasText: "mailchimp" }).waitFor();
  await screenshot("destination-connected");

  // A sync into it with a segment, previewed, then saved.
  await until("#syncs", async () => true, "the syncs page");
  await page.click("#new-sync");
  const editor = page.locator("#sync-editor");
  await editor.waitFor();
  await editor.locator('input[name="name"]').fill("to-mc");
  await editor.locator('select[name="destination"]').selectOption("mc");
  await page.click("#add-segment");
  const segment = page.locator("#segments tbody tr.segment").first();
  await segment.locator('input[name="segment_name"]').fill("Customers who paid");
  await segment.locator('select[name="target"]').selectOption("tag");
  await segment.locator('input[name="target_name"]').fill("paying");
  await segment.locator('select[name="rule"]').selectOption("paid");
  await page.click("#add-field");
  const field = page.locator("#fields tbody tr.field").first();
  await field.locator('[name="to"]').selectOption("FNAME");
  await field.locator('select[name="source"]').selectOption("first_name");
  await editor.locator("details summary", { hasText: "Advanced settings" }).click();
  await editor.locator('textarea[name="advanced"]').fill('{"on_delete": "unsubscribe"}');
  await page.click("#preview-sync");
  await page.locator("#impact").waitFor();
  await screenshot("segment-preview");
  await editor.locator('button[type="submit"]').click();
  await notice("Sync to-mc created");
  await page.locator("#sync-list tbody tr", { hasText: "to-mc" }).waitFor();
  await screenshot("sync-saved");

  // A Stripe event: the customer shows in the contacts report and reaches Mailchimp.
  const email = await waitFor("stripe-event");
  await until("#contacts", () => page.locator("#report td", { hasText: email }).count().then((n) => n > 0),
    `${email} in the contacts report`);
  await screenshot("contact-appeared");
  await until("#overview", async () => {
    const row = page.locator("#overview-syncs tbody tr", { hasText: "to-mc" });
    const cells = await row.locator("td").allTextContents();
    return cells.length === 6 && Number(cells[5]) >= 1;
  }, "the sync's first contact at Mailchimp");
  await screenshot("contact-synced");

  // A change Mailchimp refuses for good becomes a dead letter; once the cause is fixed it is
  // replayed from the dashboard.
  await waitFor("dead-letter");
  await until("#dead-letters", () => page.locator("#dead-letter-list button[data-replay]").count().then((n) => n > 0),
    "a dead letter");
  await screenshot("dead-letter");
  await waitFor("fix");
  const replays = page.locator("#dead-letter-list button[data-replay]");
  const before = await replays.count();
  await replays.first().click();
  await notice("1 sent again");
  await until("#dead-letters", () => replays.count().then((n) => n === before - 1),
    "the replayed dead letter to be delivered", 60);
  await screenshot("replayed");

  await page.click("#logout");
  await page.waitForURL(/\/login$/);
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("DONE");
} catch (e) {
  await screenshot("failure").catch(() => {});
  const shown = await page.locator("#notice").textContent().catch(() => "");
  console.error(`${e.stack || e}\nthe dashboard said: ${shown}\n${problems.join("\n")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  process.stdin.destroy();
}
