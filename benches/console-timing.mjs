// The support console's pages as a browser times them (issue #12).
//
// Usage: node benches/console-timing.mjs <base-url> [runs]     (runs default 15, or N)
//
// Run by benches/console.sh against a release server with AUTH=off on
// loopback (the local administrator: no sign-in). Opens in headless Chromium
// (Debian's /usr/bin/chromium, through tests/browser's playwright-core):
//   overview        /console
//   list            /console/risky-users (first page, 50 rows)
//   list, deep      the page after following "Next page" 20 times
//   list, filtered  /console/risky-users?level=critical&q=smith
//   user            /console/users/<the riskiest user>
//   cases           /console/cases (the queue; CASES cases are raised first
//                   if it holds fewer, so that it has a full page)
// Each page is loaded once to warm up, then `runs` times in the same tab (the
// styles and script cached, as for a person moving between pages), reading
// the browser's own Navigation Timing: responseStart (the first byte of the
// HTML), domContentLoadedEventEnd and loadEventEnd, from the navigation's
// start; median and p95 (nearest rank). Beside them: the requests each page
// needs for its data (document, fetch, XHR, WebSocket) and its weight on a
// cold load (a fresh browser context): the HTML, CSS and JS as transferred
// (compressed when the server compressed them: their content-encoding) and
// as decoded. Prints a markdown table on stdout, progress on stderr.

import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [baseArg, runsArg] = process.argv.slice(2);
if (!baseArg) {
  console.error('usage: node benches/console-timing.mjs <base-url> [runs]');
  process.exit(1);
}
const base = new URL(baseArg).origin;
const RUNS = Number(runsArg ?? process.env.N ?? 15);
const CASES = Number(process.env.CASES ?? 60);
const DEEP = Number(process.env.DEEP ?? 20);
const log = (...args) => console.error(...args);

async function graphql(query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) throw new Error(`GraphQL: ${response.status} ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}
const ms = (v) => (v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`);
const kb = (bytes) => (bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} kB` : `${bytes} B`);

async function main() {
  // The queue: a full page of cases, on the riskiest users.
  const { alerts } = await graphql('{ alerts(first: 1) { totalCount } }');
  const { riskyUsers } = await graphql(`{ riskyUsers(minScore: 0, first: ${Math.max(CASES, 1)}) { edges { node { user { id } } } } }`);
  const top = riskyUsers.edges.map((e) => e.node.user.id);
  for (let i = alerts.totalCount; i < CASES; i += 1) {
    await graphql('mutation($u: ID!) { sendAlert(userId: $u, note: "benchmark case") { alert { id } } }', { u: top[i % top.length] });
  }
  log(`cases in the queue: ${Math.max(alerts.totalCount, CASES)}`);

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const viewport = { width: 1440, height: 900 };

  // The deep page: follow "Next page" 20 times; the page after is timed.
  const walker = await browser.newPage({ viewport });
  await walker.goto(`${base}/console/risky-users`, { waitUntil: 'load' });
  for (let i = 0; i < DEEP; i += 1) {
    if ((await walker.locator('a[rel=next]').count()) === 0) throw new Error(`the list ends after ${i + 1} pages, before ${DEEP + 2}`);
    await Promise.all([walker.waitForNavigation({ waitUntil: 'load' }), walker.locator('a[rel=next]').click()]);
  }
  const deep = await walker.locator('a[rel=next]').getAttribute('href');
  await walker.close();
  const pages = [
    ['overview', '/console'],
    ['list, first page', '/console/risky-users'],
    [`list, page ${DEEP + 2} (after ${DEEP} × Next)`, deep],
    ['list, level=critical&q=smith', '/console/risky-users?level=critical&q=smith'],
    ['user (the riskiest)', `/console/users/${top[0]}`],
    ['cases (queue)', '/console/cases'],
  ];

  const rows = [];
  for (const [name, path] of pages) {
    const url = `${base}${path}`;
    // Weight and requests: a cold load in a fresh context.
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const data = [];
    const encodings = {};
    page.on('request', (request) => {
      if (request.isNavigationRequest() || ['fetch', 'xhr'].includes(request.resourceType())) data.push(request.resourceType());
    });
    page.on('websocket', () => data.push('websocket'));
    page.on('response', (response) => {
      const type = response.request().resourceType();
      encodings[type] = response.headers()['content-encoding'] ?? 'identity';
    });
    const response = await page.goto(url, { waitUntil: 'load' });
    if (!response?.ok()) throw new Error(`${path} answered ${response?.status()}`);
    await page.waitForFunction(() => performance.getEntriesByType('navigation')[0]?.loadEventEnd > 0);
    if (path === '/console/cases') await page.locator('[data-live-ready=true]').waitFor({ state: 'attached' });
    const weight = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const sum = (type) =>
        performance
          .getEntriesByType('resource')
          .filter((r) => r.initiatorType === type)
          .reduce((acc, r) => ({ sent: acc.sent + r.encodedBodySize, raw: acc.raw + r.decodedBodySize }), { sent: 0, raw: 0 });
      return { html: { sent: nav.encodedBodySize, raw: nav.decodedBodySize }, css: sum('link'), js: sum('script') };
    });
    await context.close();

    // Timing: a warm-up, then RUNS loads in one tab.
    const tab = await browser.newPage({ viewport });
    const samples = { first: [], dom: [], load: [] };
    for (let i = 0; i <= RUNS; i += 1) {
      await tab.goto(url, { waitUntil: 'load' });
      const t = await tab.evaluate(async () => {
        let nav = performance.getEntriesByType('navigation')[0];
        while (!(nav.loadEventEnd > 0)) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          nav = performance.getEntriesByType('navigation')[0];
        }
        return { first: nav.responseStart - nav.startTime, dom: nav.domContentLoadedEventEnd - nav.startTime, load: nav.loadEventEnd - nav.startTime };
      });
      if (i === 0) continue; // the warm-up
      samples.first.push(t.first);
      samples.dom.push(t.dom);
      samples.load.push(t.load);
    }
    await tab.close();
    const cell = (values) => `${ms(quantile(values, 0.5))} / ${ms(quantile(values, 0.95))}`;
    rows.push(
      `| ${name} | ${cell(samples.first)} | ${cell(samples.dom)} | ${cell(samples.load)} | ${data.length} (${data.join(', ')}) | ` +
        `${kb(weight.html.sent)} / ${kb(weight.html.raw)} (${encodings.document}) | ${kb(weight.css.sent)} / ${kb(weight.css.raw)} (${encodings.stylesheet ?? '-'}) | ` +
        `${kb(weight.js.sent)} / ${kb(weight.js.raw)} (${encodings.script ?? '-'}) |`,
    );
    log(`${name}: done`);
  }
  const version = browser.version();
  await browser.close();

  console.log(`Chromium ${version}, ${RUNS} loads of each page after one warm-up, 1440 × 900; median / p95 (nearest rank).`);
  console.log('');
  console.log('| page | first byte (responseStart) | DOMContentLoaded end | load end | data requests | HTML sent / decoded | CSS sent / decoded | JS sent / decoded |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
}

main().catch((error) => {
  console.error(`console-timing FAILED: ${error.stack || error}`);
  process.exit(1);
});
