// Browser tests of `gavel serve` in a real headless Chromium (Debian's `chromium`), driven by
// playwright-core. Started by crates/gavel/tests/cli/serve.rs, which runs the server and sets
// up the people and projects; the setup arrives as JSON in GAVEL_BROWSER_SETUP:
//   {"base": "http://127.0.0.1:PORT", "lead": TOKEN, "annotators": {"alice": TOKEN, ...},
//    "chromium": "/usr/bin/chromium", "screenshots": DIR}
// Prints one line per check and a closing "N passed, M failed" line; exits 1 on any failure.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const setup = JSON.parse(process.env.GAVEL_BROWSER_SETUP || "{}");
const base = setup.base;
const shots = setup.screenshots;
if (shots) mkdirSync(shots, { recursive: true });
let passed = 0;
let failed = 0;
const check = (name, ok, detail) => {
  if (ok) { passed++; console.log(`ok - ${name}`); }
  else { failed++; console.log(`not ok - ${name}${detail ? ": " + detail : ""}`); }
};
const shot = async (page, name) => { if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: false }); };

const browser = await chromium.launch({
  executablePath: setup.chromium || "/usr/bin/chromium",
  // Root needs --no-sandbox; the rest keeps Chromium off the (closed) network.
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

async function signIn(token) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const page = await context.newPage();
  page.dialogs = [];
  page.on("dialog", (d) => { page.dialogs.push(d.message()); d.dismiss(); });
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  await page.goto(`${base}/signin`);
  await page.fill("input[name=token]", token);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button.primary")]);
  return page;
}

const position = async (page) => {
  const t = await page.textContent(".taskhead .pos").catch(() => null);
  return t ? parseInt(t.replace(/\D+/g, ""), 10) : null;
};

// Presses a key on a labelling page and waits for the next item ("saved=N" or "skipped=N"
// with N the position of the item just answered). Returns whether the next item came.
async function answer(page, key, what = "saved") {
  const pos = await position(page);
  await Promise.all([page.waitForURL(new RegExp(`${what}=${pos}$`), { timeout: 10000 }), page.keyboard.press(key)]);
  return (await position(page)) === pos + 1 || (await page.textContent("main")).includes("All done");
}

try {
  // The sign-in page.
  {
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    const page = await context.newPage();
    await page.goto(`${base}/p/helpful/label`);
    check("an anonymous visitor lands on the sign-in page", page.url().endsWith("/signin"));
    await shot(page, "01-signin");
    await page.fill("input[name=token]", "gvl_wrong");
    await page.click("button.primary");
    check("a wrong token is refused", (await page.textContent("body")).includes("did not match"));
    await context.close();
  }

  const lead = await signIn(setup.lead);
  await shot(lead, "02-projects-lead");
  await lead.goto(`${base}/p/helpful/dashboard`);
  const labelsBefore = await lead.textContent("[data-section] h2 .muted");
  await shot(lead, "03-dashboard-empty");

  // Three annotators label with the keyboard: one key, next item at once.
  const keys = { alice: ["1", "ArrowLeft", "1", "3"], bob: ["1", "2", "ArrowRight", "1"], carol: ["ArrowLeft", "1", "3", "2"] };
  const pages = {};
  for (const [name, token] of Object.entries(setup.annotators)) {
    const page = await signIn(token);
    pages[name] = page;
    await page.goto(`${base}/p/helpful/label`);
    if (name === "alice") await shot(page, "04-label-pairwise");
    let moved = true;
    for (const key of keys[name]) {
      if (!(await answer(page, key))) moved = false;
    }
    check(`${name}: four labels by key, each followed by the next item`, moved, `ended at ${await position(page)}`);
    check(`${name}: the saved toast is shown`, (await page.textContent(".progress")).includes("saved"));
  }
  const alice = pages.alice;

  // The guideline is one key away, and Escape closes it.
  await alice.keyboard.press("g");
  check("G opens the guideline", await alice.isVisible("#guide"));
  check("the guideline shows its examples", (await alice.textContent("#guide")).includes("Good annotation"));
  await shot(alice, "05-guideline-panel");
  await alice.keyboard.press("Escape");
  check("Escape closes the guideline", !(await alice.isVisible("#guide")));

  // A reason, typed after R, travels with the label; keys typed there do not label.
  const before = await position(alice);
  await alice.keyboard.press("r");
  await alice.keyboard.type("2 is wrong about the date");
  check("typing a reason does not submit", (await position(alice)) === before);
  await alice.keyboard.press("Escape");
  check("the label with a reason is saved", await answer(alice, "1"));

  // Skip with a reason: S, then a number.
  await alice.keyboard.press("s");
  check("S opens the skip dialog", await alice.isVisible("#skipdialog"));
  await shot(alice, "06-skip-dialog");
  check("2 in the dialog skips with that reason", (await answer(alice, "2", "skipped")) && (await alice.textContent(".progress")).includes("skipped"));

  // History: own labels only; U reopens the last one for a change.
  await alice.goto(`${base}/p/helpful/history`);
  const hist = await alice.textContent("table.data");
  check("my labels list my reason-labelled and skipped items", hist.includes("skipped") && hist.includes("done"));
  await shot(alice, "07-history");
  await alice.goto(`${base}/p/helpful/label`);
  await alice.keyboard.press("u");
  await alice.waitForURL(/\/a\/\d+$/);
  check("U opens the previous item", /\/a\/\d+$/.test(alice.url()));

  // The lead sees agreement update.
  await lead.goto(`${base}/p/helpful/dashboard`);
  const labelsAfter = await lead.textContent("[data-section] h2 .muted");
  check("the dashboard counts the new labels", labelsBefore !== labelsAfter, `${labelsBefore} -> ${labelsAfter}`);
  const alpha = await lead.textContent("[data-stat=krippendorff_alpha]");
  check("the dashboard shows Krippendorff's alpha", /\d\.\d{3}/.test(alpha), alpha);
  await shot(lead, "08-dashboard");
  // One more label changes the numbers the lead sees.
  await pages.bob.goto(`${base}/p/helpful/label`);
  await answer(pages.bob, "2");
  await lead.reload();
  const labelsLater = await lead.textContent("[data-section] h2 .muted");
  check("agreement updates after another label", labelsLater !== labelsAfter, `${labelsAfter} -> ${labelsLater}`);
  await lead.goto(`${base}/p/helpful/review`);
  await shot(lead, "09-review");
  check("the review lists disagreements with reasons", (await lead.textContent("main")).includes("Item"));
  await lead.goto(`${base}/p/helpful/setup`);
  await shot(lead, "10-setup");

  // Likert and binary pages, by key.
  await alice.goto(`${base}/p/likert/label`);
  await shot(alice, "11-label-likert");
  check("a Likert score in one key", await answer(alice, "4"));
  await alice.goto(`${base}/p/binary/label`);
  await alice.keyboard.press("p");
  await shot(alice, "12-label-binary");
  check("binary criteria: P then F labels both and moves on", await answer(alice, "f"));

  // Judged text is untrusted: it renders as text and runs nothing.
  await alice.goto(`${base}/p/xss/label`);
  await alice.waitForTimeout(300);
  const xssRan = await alice.evaluate(() => window.__xss === 1);
  check("no script from a response ran", !xssRan && alice.dialogs.length === 0, JSON.stringify(alice.dialogs));
  const text = await alice.textContent("main");
  check("a <script> in a response is shown as text", text.includes("<script>window.__xss=1</script>"));
  check("an <img onerror> in a response is shown as text", text.includes("<img src=x onerror="));
  const imgs = await alice.$$eval("main img", (els) => els.length);
  check("no image element was created from judged text", imgs === 0);
  await shot(alice, "13-xss-as-text");
  const guide = await alice.textContent("#guide");
  check("raw HTML in the guideline is shown as text", guide.includes("<b onmouseover="));

  const errors = Object.values(pages).flatMap((p) => p.errors).concat(lead.errors);
  check("no script errors on any page", errors.length === 0, errors.join("; "));
} catch (e) {
  check("the browser run completed", false, String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
