// The console, in a real (headless) browser: the whole sandbox journey as a person clicks it.
//
// It starts nothing itself: `crates/autodebit-server/tests/console.rs` starts `autodebit serve` in
// sandbox mode and runs this with
//   AUTODEBIT_URL         the server's URL (http://127.0.0.1:PORT)
//   AUTODEBIT_KEY         its API key
//   CONSOLE_SCREENSHOT    where to write the screenshot (PNG, 1280x800; optional)
//   CONSOLE_FULL_SCREENSHOT     where to write the whole page at the end (optional)
//   CONSOLE_QR_SCREENSHOT       where to write the Scan to Bind QR code (optional)
//   CONSOLE_FAILURE_SCREENSHOT  where to write the whole page when a step fails (optional)
//   CHROMIUM              the browser (default /usr/bin/chromium, Debian's)
// It exits 0 when every step passed, 1 with what it saw otherwise.

import { chromium } from "playwright-core";

const url = process.env.AUTODEBIT_URL;
const key = process.env.AUTODEBIT_KEY;
const screenshot = process.env.CONSOLE_SCREENSHOT;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const STEP_MS = 20_000;

if (!url || !key) {
  console.error("set AUTODEBIT_URL and AUTODEBIT_KEY");
  process.exit(2);
}

const problems = [];
let step = "start";
const log = (line) => console.log(`[console.test] ${line}`);

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
const page = await context.newPage();
page.setDefaultTimeout(STEP_MS);
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("console", (m) => {
  // A failed request is reported below with its URL.
  if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
    problems.push(`console error: ${m.text()}`);
  }
});
page.on("response", (r) => {
  const u = new URL(r.url());
  // The sandbox's consent page has no icon; everything else must load.
  if (r.status() >= 400 && u.pathname !== "/favicon.ico") {
    problems.push(`HTTP ${r.status()} for ${r.request().method()} ${u.pathname}`);
  }
});

// The text of an element, once `predicate` holds for it (or a timeout naming what was there).
async function waitText(selector, predicate, what) {
  const deadline = Date.now() + STEP_MS;
  let last = null;
  while (Date.now() < deadline) {
    last = await page.locator(selector).first().textContent().catch(() => null);
    if (last !== null && predicate(last)) return last;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: ${selector} shows ${JSON.stringify(last)}; status: ${JSON.stringify(await statusLine())}`);
}

async function statusLine() {
  return page.locator("#status").textContent().catch(() => null);
}

const is = (want) => (text) => text.trim() === want;

async function run() {
  step = "open the console with the key in the fragment";
  await page.goto(`${url}/console#key=${encodeURIComponent(key)}`);
  await page.locator("[data-testid=sandbox-panel]").waitFor({ state: "visible" });
  check(!page.url().includes("#key="), `the key was cleared from the address bar: ${page.url()}`);
  await waitText("[data-testid=mode]", is("sandbox mode"), "the mode badge");

  step = "bind the demo wallet through the sandbox's consent page";
  await page.click("#bind");
  const agree = page.locator("button[value=agree]");
  await agree.waitFor({ state: "visible" });
  log(`consent page at ${new URL(page.url()).origin}`);
  const user = page.locator("select[name=user]");
  if (await user.count()) await user.selectOption("demo@sandbox.example");
  await agree.click();
  await page.waitForURL((u) => u.pathname === "/console" && !u.search.includes("authorization_id"));
  await waitText("[data-testid=sb-auth-status]", is("active"), "the authorization is active");
  const authId = (await page.locator("[data-testid=sb-auth]").textContent()).trim();
  check(authId.startsWith("auth_"), `an authorization id: ${authId}`);
  log(`bound ${authId}`);

  step = "charge USD 10.00";
  await page.fill("#amount", "1000");
  await page.click("#charge");
  await waitText("[data-testid=sb-pay-status]", is("succeeded"), "the payment succeeds");
  const payment = await page.locator("[data-testid=sb-pay]").textContent();
  check(/^pay_\S+ · USD 10\.00$/.test(payment.trim()), `the payment shown: ${payment}`);
  log(`charged: ${payment}`);

  step = "refund USD 2.50";
  await page.fill("#refund-amount", "250");
  await page.waitForFunction(() => !document.getElementById("refund").disabled);
  await page.click("#refund");
  await waitText("[data-testid=sb-refund-status]", is("succeeded"), "the refund succeeds");
  await waitText("[data-testid=sb-pay-refunded]", is("USD 2.50"), "the payment shows the refund");

  step = "inject a declined pay, charge: the payment fails";
  await page.selectOption("#fault", "pay_declined");
  await page.click("#inject");
  await waitText("[data-testid=fault-note]", (t) => t.startsWith("Armed"), "the fault is armed");
  await page.click("#charge");
  await waitText("[data-testid=sb-pay-status]", is("failed"), "the declined payment fails");
  await waitText("[data-testid=sb-pay-failure]", (t) => t.includes("USER_BALANCE_NOT_ENOUGH"), "the failure names the code");

  step = "charge again and cancel it";
  await page.click("#charge");
  await waitText("[data-testid=sb-pay-status]", is("succeeded"), "the second payment succeeds");
  await page.waitForFunction(() => !document.getElementById("cancel").disabled);
  await page.click("#cancel");
  await waitText("[data-testid=sb-pay-status]", is("cancelled"), "the payment is cancelled");

  step = "revoke the authorization";
  await page.click("#revoke");
  await waitText("[data-testid=sb-auth-status]", is("revoked"), "the authorization is revoked");

  step = "the live feed shows every event";
  for (const kind of [
    "authorization.active",
    "payment.succeeded",
    "refund.succeeded",
    "payment.failed",
    "payment.cancelled",
    "authorization.ended",
  ]) {
    await page.locator(`[data-testid=feed] li[data-kind="${kind}"]`).first().waitFor({ state: "attached" });
  }

  step = "the operator's view: a payment's timeline, the charts";
  await page.locator("#payments tr").first().click();
  await waitText("#detail-id", (t) => t.startsWith("pay_"), "the detail pane shows a payment");
  await page.locator("#timeline li").nth(1).waitFor({ state: "attached" });
  const outcomes = await page.locator("#chart-outcomes rect[data-outcome]").count();
  check(outcomes > 0, "the outcome chart has bars");
  await waitText("#legend-outcomes [data-outcome=failed]", (t) => t.trim() === "failed 1", "the chart counts the failed payment");
  await waitText("#legend-outcomes [data-outcome=cancelled]", (t) => t.trim() === "cancelled 1", "the chart counts the cancelled payment");

  step = "screenshot";
  if (screenshot) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: screenshot, fullPage: false });
    log(`screenshot: ${screenshot}`);
  }
  step = "Scan to Bind: a QR code of the authorization, and its link to the consent page";
  await page.click("#bind-qr");
  await page.locator("[data-testid=qr]").waitFor({ state: "visible" });
  const modules = Number(await page.locator("#qr-code").getAttribute("data-modules"));
  check(modules >= 21 && (modules - 17) % 4 === 0, `a QR code's size: ${modules}`);
  check((await page.locator("#qr-code path").getAttribute("d")).length > 100, "the QR code has dark modules");
  if (process.env.CONSOLE_QR_SCREENSHOT) {
    await page.locator("[data-testid=qr]").screenshot({ path: process.env.CONSOLE_QR_SCREENSHOT });
  }
  const second = (await page.locator("[data-testid=sb-auth]").textContent()).trim();
  check(second.startsWith("auth_") && second !== authId, `a new authorization: ${second}`);
  await waitText("[data-testid=sb-auth-status]", is("awaiting_user"), "the new authorization waits for the user");
  await page.click("[data-testid=qr-link]");
  await page.locator("button[value=agree]").click();
  await page.waitForURL((u) => u.pathname === "/console" && !u.search.includes("authorization_id"));
  await waitText("[data-testid=sb-auth-status]", is("active"), "the scanned authorization is active");

  if (process.env.CONSOLE_FULL_SCREENSHOT) {
    await page.screenshot({ path: process.env.CONSOLE_FULL_SCREENSHOT, fullPage: true });
  }
  check(problems.length === 0, `the page reported problems:\n${problems.join("\n")}`);
}

let failed = false;
try {
  await run();
  log("the sandbox journey passed");
} catch (e) {
  failed = true;
  console.error(`[console.test] FAILED at "${step}": ${e.message}`);
  if (problems.length) console.error(problems.join("\n"));
  console.error(`[console.test] page: ${page.url()}`);
  const path = process.env.CONSOLE_FAILURE_SCREENSHOT;
  if (path) {
    await page.screenshot({ path, fullPage: true }).catch(() => {});
    console.error(`[console.test] failure screenshot: ${path}`);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
