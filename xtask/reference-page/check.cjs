// The reference page's browser test, run by `cargo xtask docs --browser-test`:
//   node xtask/reference-page/check.cjs PAGE TOOLS_DIR CHROMIUM OUT_DIR
// Opens the page Redocly rendered in headless Chromium (playwright-core from TOOLS_DIR) and
// checks, for every operation of the spec the page was rendered from (OUT_DIR/openapi.json),
// what a reader of another team must find: the operation, its request and response examples,
// its 429 response with the Retry-After header, whether it is safe to repeat; and on the
// overview, the rate limits. Writes screenshots to OUT_DIR. Exits 1 naming each failed check.
'use strict';

const fs = require('fs');
const path = require('path');

const [page_file, tools, chromium_path, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node check.cjs PAGE TOOLS_DIR CHROMIUM OUT_DIR');
  process.exit(2);
}
const { chromium } = require(path.join(path.resolve(tools), 'node_modules', 'playwright-core'));
const spec = JSON.parse(fs.readFileSync(path.join(out, 'openapi.json'), 'utf8'));

const failures = [];
let passed = 0;
function check(what, ok, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok: ${what}`);
  } else {
    failures.push(what);
    console.log(`FAILED: ${what}${detail ? `\n  ${detail}` : ''}`);
  }
}

/** The string leaves of an example, so that the page can be searched for them. */
function strings(value, found = []) {
  if (typeof value === 'string') found.push(value);
  else if (Array.isArray(value)) value.forEach((item) => strings(item, found));
  else if (value && typeof value === 'object') Object.values(value).forEach((item) => strings(item, found));
  return found;
}

function resolve(node) {
  let depth = 0;
  while (node && node.$ref && depth < 16) {
    node = node.$ref.slice(2).split('/').reduce((at, key) => at && at[key.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
    depth += 1;
  }
  return node;
}

function operations() {
  const found = [];
  for (const [template, item] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!operation.operationId) continue;
      const tag = (operation.tags || ['default'])[0].toLowerCase();
      found.push({ template, method, operation, route: `#/${tag}/${operation.operationId.toLowerCase()}` });
    }
  }
  return found;
}

const external = [];

async function open(browser, route) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  // The page must work offline: everything it asks of the network is refused and noted.
  await page.route('**/*', (request) => {
    const url = request.request().url();
    if (/^(file|data|blob):/.test(url)) return request.continue();
    external.push({ url, type: request.request().resourceType() });
    return request.abort();
  });
  await page.goto(`file://${path.resolve(page_file)}${route}`);
  // Redoc renders on the client: wait until it has put the page's content in place.
  await page.waitForFunction(() => document.body.innerText.includes('API docs by'), null, { timeout: 15000 });
  return page;
}

async function text(page) {
  return page.evaluate(() => document.body.innerText);
}

async function overview(browser) {
  const page = await open(browser, '');
  const body = await text(page);
  check('the overview names the API and its version', body.includes(`${spec.info.title} (${spec.info.version})`));
  const limits = spec.info['x-rate-limits'];
  const rows = await page.locator('table tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.innerText.trim())));
  for (const window of ['burst', 'quota']) {
    const row = rows.find((cells) => cells[0] === window);
    check(
      `the rate-limit table shows the ${window} window: ${limits[window].requests} requests per ${limits[window].periodSeconds} s`,
      row && row[1] === String(limits[window].requests) && row[2].startsWith(`${limits[window].periodSeconds} s`),
      JSON.stringify(row),
    );
  }
  check(
    'the overview says whether rejected attempts count',
    body.includes(`Rejected attempts count: ${limits.rejectedAttemptsCount ? 'yes' : 'no'}`),
  );
  const source = await page.locator(`a[href="${limits.source}"]`).count();
  check('the overview links the rate limits\' source', source > 0);
  await page.screenshot({ path: path.join(out, 'screenshot-overview.png') });
  await page.close();
}

async function operation(browser, { template, method, operation: op, route }) {
  const page = await open(browser, route);
  const name = op.operationId;
  await page.getByText(op.summary, { exact: true }).first().waitFor({ timeout: 15000 });
  let body = await text(page);
  check(`${name}: the page shows "${op.summary}" at ${method.toUpperCase()} ${template}`, body.includes(op.summary) && body.includes(template));
  const declaration = op['x-idempotent'] ? 'Safe to repeat (x-idempotent: true)' : 'Not safe to repeat (x-idempotent: false)';
  check(`${name}: the page says "${declaration}"`, body.includes(declaration));

  // The request example, expanded in the samples panel.
  const example = op.requestBody && resolve(op.requestBody).content['application/json'].example;
  if (example) {
    await page.getByRole('button', { name: 'Expand all' }).first().click();
    body = await text(page);
    const missing = strings(example).filter((value) => !body.includes(value));
    check(`${name}: the request example is shown (${strings(example).length} values)`, missing.length === 0, `missing: ${missing.join(', ')}`);
  }
  const success = resolve(op.responses['200']);
  const answer = success.content['application/json'].example;
  check(`${name}: the 200 example is shown`, body.includes(answer.message), answer.message);

  // The 429 response, its header and its example.
  const throttled = resolve(op.responses['429']);
  check(`${name}: the spec documents a 429`, Boolean(throttled));
  if (throttled) {
    const tab = page.getByRole('tab', { name: '429', exact: true }).first();
    await tab.click();
    await page.getByText('Retry-After', { exact: true }).first().waitFor({ timeout: 5000 }).catch(() => {});
    body = await text(page);
    check(`${name}: the 429 response's description is shown`, body.includes(throttled.description.split('.')[0]));
    for (const header of Object.keys(throttled.headers || {})) {
      check(`${name}: the 429 response shows its ${header} header`, await page.getByText(header, { exact: true }).first().isVisible());
    }
    const sample = throttled.content['application/json'].example;
    check(`${name}: the 429 example is shown`, body.includes(sample.message), sample.message);
    // The responses, 429 selected, at the top of the screenshot.
    await tab.evaluate((element) => element.scrollIntoView({ block: 'start' }));
    await page.screenshot({ path: path.join(out, `screenshot-${name}-429.png`) });
  }
  await page.close();
}

(async () => {
  const browser = await chromium.launch({
    executablePath: chromium_path,
    headless: true,
    // As root in a container, with no network: the flags this machine's Chromium needs.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    await overview(browser);
    const all = operations();
    check('the spec has operations to show', all.length > 0);
    for (const each of all) await operation(browser, each);
  } finally {
    await browser.close();
  }
  // Redoc's "API docs by" badge is an image on its CDN; nothing else may come from the network.
  const needed = external.filter((request) => request.type !== 'image');
  check('the page loads no script, style or data from the network', needed.length === 0, JSON.stringify(needed));
  console.log(`${passed} checks passed, ${failures.length} failed; screenshots in ${out}`);
  process.exit(failures.length === 0 ? 0 : 1);
})().catch((error) => {
  console.error(`error: ${error.stack || error}`);
  process.exit(1);
});
