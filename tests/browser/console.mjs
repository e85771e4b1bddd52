// Headless-browser walk of Risk Monitor's support console (SPEC §11, issue #12).
//
// Usage: RM_AGENT_KEY=rm_… RM_VIEWER_KEY=rm_… node console.mjs <base-url> <screenshot-dir>
//   e.g. node tests/browser/console.mjs http://127.0.0.1:8080 target/console-shots
//
// The service must run with AUTH=required and hold enough risky users for
// several pages of 20 (the Rust wrapper seeds 120); RM_AGENT_KEY and
// RM_VIEWER_KEY are live keys of the agent and viewer roles.
//
// Drives Debian's Chromium (/usr/bin/chromium) through playwright-core and
// checks, as a person would:
//   - signing in through the form (agent, viewer and a phone, each in its own
//     browser context; a wrong key gets a readable 401) and signing out (back
//     to the form, /console sends there again, the old cookie is dead);
//   - the overview's figures equal GraphQL `stats` (same snapshot);
//   - the risky list's filters change the URL and the rows (level=critical,
//     then Back restores the previous URL and rows; a search narrows them);
//   - a walk of the list at 20 rows a page, following "Next page", reaches
//     the end with no gap or repeat, in the order and count of GraphQL
//     `riskyUsers` paged to its end and of `[data-total]`; the CSV export
//     (RFC 4180) and the JSON export list the same ids in the same order;
//   - a user's factor contributions add up to the score and the sum shown;
//     the payments timeline has one dot per payment listed; the score as of
//     a past day is shown without the alert form;
//   - a double-clicked "Send alert" makes exactly one alert (and the same
//     form sent again is still one);
//   - the case queue updates live (a case raised elsewhere appears without a
//     reload) and its "Acknowledge" button changes the case's status;
//   - an agent's form without its CSRF token is refused (403, nothing
//     changed); a viewer sees no action form, and a viewer's forged POSTs
//     (without a token, with the agent's token) are refused likewise;
//   - keyboard: Tab focuses the skip link first, Enter moves focus to main,
//     Tab reaches the list's first user link (with a visible focus ring) and
//     Enter opens that user;
//   - axe-core (tests/browser/vendor, WCAG 2 A/AA, 2.1 AA) finds nothing
//     serious or critical on the login, overview, list, user, cases and
//     not-found pages, at 1440 and 390 pixels (lesser findings are printed);
//   - at 390 pixels the tables marked `cards` show rows as cards and no page
//     is wider than the screen; at both widths no table is wider than its
//     box, and every page names its icon (else browsers ask for a missing
//     /favicon.ico);
//   - an unknown user is a readable 404 page, a bad filter a readable 422
//     page (HTML with a heading and a message; no console page answers
//     anything but HTML);
//   - no request leaves the service's origin, none fails, no response is an
//     HTTP error (except the deliberate ones above), no page throws, no
//     Content-Security-Policy violation is reported;
//   - each page needs at most three requests for its data (the document plus
//     fetch, XHR and WebSocket requests; styles, scripts and icons aside).
// Screenshots of the login, overview, risky list, user and cases pages at
// 1440 (whole page) and 390 pixels (the first two screens) are written to
// <screenshot-dir> as console-<page>-<width>.png.
//
// On success prints `console ok: …` with the key figures (and `note:` lines
// before it) and exits 0; on any failure prints `console FAILED: <reason>`
// (with the problems and requests seen) to stderr and exits 1. A failure
// that does not stop the walk (a page's accessibility, width or icon, a live
// update that lost cases) is collected, and all of them are listed at the
// end. The run is bounded at OVERALL_TIMEOUT_MS.

import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const OVERALL_TIMEOUT_MS = 150_000;
const STEP_TIMEOUT_MS = 15_000;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21aa'];
const MAX_DATA_REQUESTS = 3;
const PAGE_SIZE = 20;
const HERE = path.dirname(fileURLToPath(import.meta.url));

class Failure extends Error {}
function fail(reason) {
  throw new Failure(reason);
}
// A failure that does not stop the walk (a page's accessibility or width, a
// live update that lost cases): all are listed at the end, and fail the run.
const defects = [];
function defect(reason) {
  defects.push(reason);
}

// ---------------------------------------------------------------- arguments

const [baseArg, shotDir] = process.argv.slice(2);
if (!baseArg || !shotDir || process.argv.length !== 4) {
  console.error('usage: RM_AGENT_KEY=… RM_VIEWER_KEY=… node console.mjs <base-url> <screenshot-dir>');
  process.exit(1);
}
let origin;
try {
  const base = new URL(baseArg);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)');
  origin = base.origin;
} catch {
  console.error(`console FAILED: base URL ${JSON.stringify(baseArg)} is not an http(s) URL`);
  process.exit(1);
}
const AGENT_KEY = process.env.RM_AGENT_KEY;
const VIEWER_KEY = process.env.RM_VIEWER_KEY;
if (!AGENT_KEY || !VIEWER_KEY) {
  console.error('console FAILED: set RM_AGENT_KEY and RM_VIEWER_KEY to an agent key and a viewer key');
  process.exit(1);
}

// -------------------------------------------------------------- what we saw

const problems = []; // any one fails the run
const notes = []; // printed before the success line
const requestLog = []; // "who: METHOD url → status"
const expecting = []; // the HTTP errors (statuses) deliberately provoked now; [] while a form is sent twice
const expectedErrors = [];
const buckets = new Map(); // page → the requests of its current document
const measured = []; // { name, list }
const axeRuns = []; // { name, width, lesser }
const navigations = new Map(); // page → main-frame navigations so far
const startedAt = new WeakMap(); // request → its page's navigations when it started
const pending = []; // judgments of aborted requests still to be made
const answered = new Set(); // URLs whose HTTP errors the response handler judged
const phases = []; // [name, seconds]
let phaseStart = Date.now();
function phase(name) {
  const now = Date.now();
  phases.push(`${name} ${((now - phaseStart) / 1000).toFixed(1)}s`);
  phaseStart = now;
}

function isLocal(url) {
  if (/^(data|blob|about):/i.test(url)) return true;
  try {
    return new URL(url.replace(/^ws/, 'http')).origin === origin;
  } catch {
    return false;
  }
}
function pathOf(url) {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}
async function expectErrors(statuses, what) {
  const provoked = { statuses };
  expecting.push(provoked);
  try {
    return await what();
  } finally {
    // Let late events of the provoked request (response, console) arrive
    // inside the window.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expecting.splice(expecting.indexOf(provoked), 1);
  }
}
const checkProblems = (step) => {
  if (problems.length > 0) fail(`${step}: ${problems[0]}`);
};

// ------------------------------------------------------------------ browser

let browser;
const contexts = [];

async function newContext(who, viewport, options = {}) {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    serviceWorkers: 'block',
    baseURL: origin,
    ...options,
  });
  contexts.push(context);
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  // Each document records the CSP violations it reports (an init script is
  // injected by the browser, not loaded by the page: the CSP does not apply).
  await context.addInitScript(() => {
    window.__rmCsp = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__rmCsp.push(`${event.effectiveDirective} refused ${event.blockedURI || 'inline'} (${event.sourceFile || '?'}:${event.lineNumber})`);
    });
  });
  await context.route('**/*', async (route) => {
    const request = route.request();
    if (isLocal(request.url())) {
      await route.continue();
    } else {
      problems.push(`${who}: request to another origin: ${request.method()} ${request.url()}`);
      await route.abort('blockedbyclient');
    }
  });
  context.on('request', (request) => {
    try {
      startedAt.set(request, navigations.get(request.frame().page()) ?? 0);
    } catch {
      // a service worker's request: none are allowed to run
    }
    requestLog.push(`${who}: ${request.method()} ${pathOf(request.url())} (${request.resourceType()})`);
    let frame;
    try {
      frame = request.frame();
    } catch {
      return;
    }
    const page = frame.page();
    if (request.isNavigationRequest() && !frame.parentFrame()) {
      if (!request.redirectedFrom()) buckets.set(page, []);
      buckets.get(page)?.push(`document ${request.method()} ${pathOf(request.url())}`);
    } else if (['fetch', 'xhr', 'eventsource'].includes(request.resourceType())) {
      buckets.get(page)?.push(`${request.resourceType()} ${request.method()} ${pathOf(request.url())}`);
    }
  });
  context.on('requestfailed', (request) => {
    const text = `${who}: request failed: ${request.method()} ${pathOf(request.url())} (${request.failure()?.errorText})`;
    if (!isLocal(request.url())) return; // reported by the route above
    // A request cut short because its page moved on (an icon still loading
    // when a link is followed, the live region's reload when a button is
    // pressed, the first of two submissions of a form) is not the service
    // failing.
    if (request.failure()?.errorText === 'net::ERR_ABORTED') {
      let page;
      try {
        page = request.frame().page();
      } catch {
        page = undefined;
      }
      if (expecting.length > 0 && request.resourceType() === 'document') {
        notes.push(`${text}, as the form was sent again`);
        return;
      }
      // The abort may be reported before the navigation that caused it
      // commits: judge a moment later.
      const since = startedAt.get(request) ?? 0;
      pending.push(
        new Promise((resolve) => setTimeout(resolve, 1_500)).then(() => {
          if (page && (page.isClosed() || (navigations.get(page) ?? 0) > since)) notes.push(`${text}, as the page moved on`);
          else problems.push(text);
        }),
      );
      return;
    }
    problems.push(text);
  });
  context.on('response', (response) => {
    const request = response.request();
    const text = `${who}: HTTP ${response.status()} for ${request.method()} ${pathOf(response.url())}`;
    // Every console page is HTML, errors included: never raw JSON or text.
    const type = response.headers()['content-type'] ?? '';
    if (request.isNavigationRequest() && !(response.status() >= 300 && response.status() < 400) && !type.startsWith('text/html')) {
      const index = problems.push(`${who}: ${request.method()} ${pathOf(response.url())} answered HTTP ${response.status()} ${type || 'without a type'}, not a page`) - 1;
      response.text().then(
        (body) => {
          problems[index] += `: ${body.slice(0, 160)}`;
        },
        () => {},
      );
    }
    if (response.status() >= 400) {
      answered.add(response.url());
      if (expecting.some((e) => e.statuses.includes(response.status()))) expectedErrors.push(text);
      else problems.push(text);
    }
  });
  context.on('page', (page) => {
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations.set(page, (navigations.get(page) ?? 0) + 1);
    });
    page.on('pageerror', (error) => problems.push(`${who}: uncaught error in ${pathOf(page.url())}: ${error.message}`));
    page.on('console', (message) => {
      const text = message.text();
      if (/Content.Security.Policy/i.test(text)) {
        problems.push(`${who}: CSP violation reported in ${pathOf(page.url())}: ${text}`);
      } else if (/^Failed to load resource: the server responded with a status of/.test(text)) {
        // The response handler judged the requests it saw (deliberate or
        // not); the browser's own (an icon it looks for) it did not see.
        const url = message.location()?.url ?? '';
        if (!answered.has(url)) problems.push(`${who}: ${pathOf(url) || 'a resource'} failed to load on ${pathOf(page.url())}: ${text}`);
      } else if (message.type() === 'error') {
        problems.push(`${who}: console error in ${pathOf(page.url())}: ${text}`);
      }
    });
    page.on('websocket', (socket) => {
      requestLog.push(`${who}: WEBSOCKET ${pathOf(socket.url())}`);
      if (!isLocal(socket.url())) problems.push(`${who}: websocket to another origin: ${socket.url()}`);
      buckets.get(page)?.push(`websocket ${pathOf(socket.url())}`);
    });
  });
  return context;
}

// -------------------------------------------------------------- page helpers

/** Opens `url` (a path) and checks its status. */
async function visit(page, url, status = 200) {
  let response;
  try {
    response = await page.goto(url, { waitUntil: 'load' });
  } catch (error) {
    fail(`could not open ${url}: ${error.message}`);
  }
  if (!response) fail(`no response for ${url}`);
  if (response.status() !== status) fail(`GET ${url} answered HTTP ${response.status()}, expected ${status}`);
  return response;
}

/** Clicks `selector` and waits for the navigation it starts to load `predicate`'s URL. */
async function follow(page, selector, predicate, what) {
  try {
    // A new document committed in the main frame at a wanted URL (the
    // current URL may already match: a form posted back to its own page).
    const navigated = page.waitForEvent('framenavigated', {
      predicate: (frame) => frame === page.mainFrame() && predicate(new URL(frame.url())),
    });
    await page.locator(selector).first().click();
    await navigated;
    await page.waitForLoadState('load');
  } catch (error) {
    fail(`${what}: ${error.message.split('\n')[0]} (now at ${pathOf(page.url())})`);
  }
}

const pathIs = (wanted) => (url) => url.pathname === wanted;

/** Records how many requests the current document of `page` needed for its data. */
function measure(page, name) {
  const list = [...(buckets.get(page) ?? [])];
  measured.push({ name, list });
  if (list.length === 0) fail(`${name}: no document request was recorded`);
  if (list.length > MAX_DATA_REQUESTS) {
    fail(`${name} needs ${list.length} requests for its data (at most ${MAX_DATA_REQUESTS}): ${list.join(', ')}`);
  }
}

/** A GraphQL operation from `page` (same origin, its session); its `data`. */
async function gql(page, query, variables = {}) {
  const answer = await page.evaluate(
    async ([q, v]) => {
      const response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query: q, variables: v }),
      });
      return { status: response.status, text: await response.text() };
    },
    [query, variables],
  );
  let body;
  try {
    body = JSON.parse(answer.text);
  } catch {
    fail(`GraphQL answered HTTP ${answer.status} with no JSON: ${answer.text.slice(0, 200)}`);
  }
  if (answer.status !== 200 || body.errors) {
    fail(`GraphQL ${query.slice(0, 60)}… answered HTTP ${answer.status}: ${JSON.stringify(body.errors ?? body).slice(0, 300)}`);
  }
  return body.data;
}

/** POSTs a form from `page`'s context (as a forged request would): status and text. */
async function postForm(page, url, fields) {
  return page.evaluate(
    async ([u, f]) => {
      const response = await fetch(u, { method: 'POST', body: new URLSearchParams(f), redirect: 'manual' });
      return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
    },
    [url, fields],
  );
}

let axeSource;
/** axe-core on `page`: fails on serious or critical violations, notes the rest. */
async function axe(page, name, width) {
  const started = Date.now();
  const injected = await page.evaluate(() => typeof window.axe === 'object');
  if (!injected) await page.evaluate(`${axeSource}\n;0`);
  const result = await page.evaluate(async (tags) => {
    const run = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return {
      violations: run.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}${n.failureSummary ? ` — ${n.failureSummary.replace(/\s+/g, ' ').slice(0, 160)}` : ''}`),
      })),
      passes: run.passes.length,
    };
  }, AXE_TAGS);
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const lesser = result.violations.filter((v) => !serious.includes(v));
  for (const v of lesser) {
    notes.push(`axe ${v.impact} on ${name} at ${width}px: ${v.id} (${v.help}) ×${v.nodes.length}: ${v.nodes.slice(0, 3).join('; ')}`);
  }
  axeRuns.push({ name, width, lesser: lesser.length, ms: Date.now() - started });
  if (serious.length > 0) {
    defect(
      `axe finds ${serious.length} serious/critical violation(s) on ${name} at ${width}px:\n  ` +
        serious.map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.slice(0, 4).join('; ')}`).join('\n  '),
    );
  }
}

/** The checks every page gets at `width`: CSP reports, width, axe, problems. */
async function checkPage(page, name, width) {
  // Without an icon of its own a page makes the browser ask for /favicon.ico
  // (a failed request the browser does not always report).
  const icon = await page.evaluate(() => document.querySelector('link[rel~=icon]')?.getAttribute('href') ?? null);
  if (!icon) defect(`${name} at ${width}px names no icon (link rel=icon): browsers ask for /favicon.ico, which answers 404`);
  const csp = await page.evaluate(() => window.__rmCsp ?? []);
  if (csp.length > 0) fail(`${name}: Content-Security-Policy violations: ${csp.join('; ')}`);
  const wide = await page.evaluate(() => document.scrollingElement.scrollWidth);
  if (wide > width) {
    const culprits = await page.evaluate((w) => {
      const out = [];
      for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.right > w + 0.5 && out.length < 5) {
          out.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ').join('.')}` : ''} (right ${Math.round(r.right)})`);
        }
      }
      return out;
    }, width);
    defect(`${name} at ${width}px is ${wide}px wide (it scrolls sideways): ${culprits.join(', ')}`);
  }
  // A table wider than its box scrolls sideways inside the page: at 390px
  // the columns past the edge are out of sight (tables marked `cards` must
  // become cards that fit).
  const scrolling = await page.evaluate(() =>
    Array.from(document.querySelectorAll('.table-wrap'))
      .filter((wrap) => wrap.offsetParent !== null && wrap.scrollWidth > wrap.clientWidth + 1)
      .map((wrap) => {
        const table = wrap.querySelector('table');
        const where = wrap.closest('section[aria-labelledby]')?.getAttribute('aria-labelledby') ?? 'main';
        return `table${table?.className ? `.${table.className.split(' ').join('.')}` : ''} in ${where} (${wrap.scrollWidth}px in ${wrap.clientWidth}px)`;
      }),
  );
  if (scrolling.length > 0) defect(`${name} at ${width}px: a table is wider than its box and scrolls sideways: ${scrolling.join('; ')}`);
  await axe(page, name, width);
  checkProblems(name);
}

async function screenshot(page, name, width) {
  const file = path.join(shotDir, `console-${name}-${width}.png`);
  if (width === DESKTOP.width) {
    await page.screenshot({ path: file, fullPage: true });
  } else {
    const height = await page.evaluate(() => document.scrollingElement.scrollHeight);
    await page.screenshot({ path: file, fullPage: true, clip: { x: 0, y: 0, width, height: Math.min(height, PHONE.height * 2) } });
  }
}

/** The risky list's rows and total as the page shows them. */
async function listed(page) {
  return page.evaluate(() => ({
    total: Number(document.querySelector('[data-total]')?.dataset.total ?? NaN),
    next: document.querySelector('a[rel=next]')?.getAttribute('href') ?? null,
    end: Boolean(document.querySelector('[data-end]')),
    rows: Array.from(document.querySelectorAll('table.cards.risky tbody tr[data-user-id]'), (tr) => ({
      id: tr.dataset.userId,
      score: Number(tr.querySelector('td[data-score]')?.dataset.score ?? NaN),
      level: tr.querySelector('td[data-label=Level] .level')?.textContent.trim(),
      name: tr.querySelector('td.lead a')?.textContent.trim() ?? '',
      email: tr.querySelector('td.lead .muted')?.textContent.trim() ?? '',
    })),
  }));
}

/** RFC 4180: records of fields; quoted fields may hold commas, quotes ("") and line breaks. */
function parseCsv(text) {
  const records = [];
  let record = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') {
        quoted = false;
        i += 1;
        continue;
      }
      field += c;
      i += 1;
      continue;
    }
    if (c === '"') {
      if (field !== '') fail(`CSV: a quote inside an unquoted field, record ${records.length + 1}`);
      quoted = true;
    } else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 1;
    } else if (c === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else {
      field += c;
    }
    i += 1;
  }
  if (quoted) fail('CSV: a quoted field is never closed');
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records;
}

// ---------------------------------------------------------------- the walk

const STATS = `{ stats { totalUsers activeUsers highRiskUsers overallFailureRate avgRiskScore
  levels { level count } histogram { from count } highRiskByPlan { subscriptionType count }
  openCases { level count } failureTrend { day failureRate } computedAt } }`;
const RISKY = `query($after: String) { riskyUsers(minScore: 0, first: 100, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { user { id } riskScore } } } }`;
const ALERT_COUNT = '{ alerts(first: 1) { totalCount } }';
const CASE = 'query($id: ID!) { alert(id: $id) { id status version assignee } }';

async function signIn(page, key, role, next = '/console') {
  await visit(page, next === '/console' ? '/console/login' : `/console/login?next=${encodeURIComponent(next)}`);
  await page.fill('input[name=key]', key);
  await follow(page, 'form[action="/console/login"] button[type=submit]', pathIs(next), `signing in as ${role}`);
  const shown = await page.locator('.who [data-role]').getAttribute('data-role');
  if (shown !== role) fail(`signed in with the ${role} key, the page says the role is ${shown}`);
}

async function overviewMatchesStats(page) {
  for (let attempt = 1; attempt <= 5; attempt += 1) {
    const before = (await gql(page, STATS)).stats;
    if (attempt > 1) await visit(page, '/console');
    const shown = await page.evaluate(() => {
      const pairs = (attr, key) =>
        Array.from(document.querySelectorAll(`[${attr}][data-value]`), (e) => [e.getAttribute(attr), Number(e.dataset.value)]);
      return {
        computedAt: document.querySelector('[data-stats-age]')?.dataset.statsAge,
        figures: Object.fromEntries(
          Array.from(document.querySelectorAll('[data-figure]'), (e) => [
            e.dataset.figure,
            { value: Number(e.dataset.value), text: (e.firstChild?.textContent ?? '').trim() },
          ]),
        ),
        levels: pairs('data-level-count'),
        buckets: pairs('data-bucket'),
        plans: pairs('data-plan'),
        openCases: pairs('data-open-cases'),
        trend: Array.from(document.querySelectorAll('tr[data-day][data-rate]'), (e) => [e.dataset.day, Number(e.dataset.rate)]),
      };
    });
    const after = (await gql(page, STATS)).stats;
    if (!shown.computedAt) fail('the overview has no [data-stats-age]');
    const stats = [before, after].find((s) => Date.parse(s.computedAt) === Date.parse(shown.computedAt));
    if (!stats) {
      notes.push(`overview: the statistics snapshot changed while comparing (page ${shown.computedAt}, GraphQL ${before.computedAt} / ${after.computedAt}); again`);
      continue;
    }
    const figure = (key) => {
      const f = shown.figures[key];
      if (!f || !Number.isFinite(f.value)) fail(`the overview has no [data-figure=${key}][data-value]`);
      return f;
    };
    const same = (what, page_, api) => {
      if (page_ !== api) fail(`overview: ${what} is ${page_} on the page, ${api} in GraphQL stats`);
    };
    for (const [key, field] of [
      ['total-users', 'totalUsers'],
      ['active-users', 'activeUsers'],
      ['high-risk-users', 'highRiskUsers'],
    ]) {
      const f = figure(key);
      same(key, f.value, stats[field]);
      if (Number(f.text.replace(/,/g, '')) !== f.value) fail(`overview: ${key} reads "${f.text}" but its value is ${f.value}`);
    }
    same('failure-rate', figure('failure-rate').value, stats.overallFailureRate);
    if (Math.abs(parseFloat(figure('failure-rate').text) - stats.overallFailureRate * 100) > 0.05 + 1e-9) {
      fail(`overview: the failure rate reads "${figure('failure-rate').text}" for ${stats.overallFailureRate}`);
    }
    same('avg-score', figure('avg-score').value, stats.avgRiskScore);
    const asMap = (pairs) => JSON.stringify(Object.fromEntries([...pairs].sort((a, b) => String(a[0]).localeCompare(String(b[0])))));
    const compare = (what, pagePairs, apiPairs) => {
      if (asMap(pagePairs) !== asMap(apiPairs)) fail(`overview: ${what} differ: page ${asMap(pagePairs)}, GraphQL ${asMap(apiPairs)}`);
    };
    compare('users per level', shown.levels, stats.levels.map((l) => [l.level.toLowerCase(), l.count]));
    compare(
      'histogram buckets',
      shown.buckets,
      [...stats.histogram].sort((a, b) => a.from - b.from).map((b, i) => [String(i), b.count]),
    );
    compare('high-risk users per plan', shown.plans, stats.highRiskByPlan.map((p) => [p.subscriptionType ?? '', p.count]));
    compare('open cases per level', shown.openCases, stats.openCases.map((l) => [l.level.toLowerCase(), l.count]));
    compare('daily failure rates', shown.trend, stats.failureTrend.map((d) => [d.day, d.failureRate]));
    const sum = (pairs) => pairs.reduce((s, [, n]) => s + n, 0);
    if (sum(shown.levels) !== stats.activeUsers) fail(`overview: the levels add up to ${sum(shown.levels)}, not the ${stats.activeUsers} active users`);
    if (sum(shown.buckets) !== stats.activeUsers) fail(`overview: the histogram adds up to ${sum(shown.buckets)}, not ${stats.activeUsers}`);
    return stats;
  }
  return fail('overview: five tries never saw the page and GraphQL on the same statistics snapshot');
}

async function riskyWalkViaGraphql(page) {
  const ids = [];
  let after = null;
  let total;
  for (let pages = 0; pages < 10_000; pages += 1) {
    const { riskyUsers } = await gql(page, RISKY, { after });
    total = riskyUsers.totalCount;
    ids.push(...riskyUsers.edges.map((e) => String(e.node.user.id)));
    if (!riskyUsers.pageInfo.hasNextPage) break;
    after = riskyUsers.pageInfo.endCursor;
  }
  if (ids.length !== total) fail(`GraphQL riskyUsers: walked ${ids.length} users, totalCount says ${total}`);
  return ids;
}

function firstDifference(a, b) {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return `at position ${i + 1}: ${a[i]} vs ${b[i]}`;
  return 'none';
}

async function run() {
  const [axeFile, versions] = await Promise.all([
    readFile(path.join(HERE, 'vendor/axe.min.js'), 'utf8'),
    readFile(path.join(HERE, 'vendor/VERSIONS.md'), 'utf8'),
  ]);
  const pinned = versions.match(/\| `axe\.min\.js` \|[^\n]*?\| `([0-9a-f]{64})` \|/)?.[1];
  const actual = createHash('sha256').update(axeFile).digest('hex');
  if (!pinned || pinned !== actual) fail(`vendor/axe.min.js has sha256 ${actual}, VERSIONS.md says ${pinned}`);
  axeSource = axeFile;
  await mkdir(shotDir, { recursive: true });

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: STEP_TIMEOUT_MS });

  // ------------------------------------------------ sign-in (agent, desktop)
  const agent = await newContext('agent', DESKTOP);
  const page = await agent.newPage();
  await visit(page, '/console');
  if (!page.url().startsWith(`${origin}/console/login?next=`)) fail(`/console without a session leads to ${page.url()}, not the sign-in form`);
  if ((await page.locator('form[action="/console/login"] input[name=key]').count()) !== 1) fail('the sign-in page has no key field');
  measure(page, 'login');
  await checkPage(page, 'login', DESKTOP.width);
  await screenshot(page, 'login', DESKTOP.width);
  await page.fill('input[name=key]', `rm_${'0'.repeat(64)}`);
  await expectErrors([401], () => follow(page, 'form[action="/console/login"] button[type=submit]', pathIs('/console/login'), 'a wrong key'));
  checkProblems('signing in with a wrong key');
  const refused = (await page.locator('[role=alert]').textContent().catch(() => '')) ?? '';
  if (!/not valid|revoked/i.test(refused)) fail(`a wrong key shows no readable message (got ${JSON.stringify(refused)})`);
  await page.fill('input[name=key]', AGENT_KEY);
  await follow(page, 'form[action="/console/login"] button[type=submit]', pathIs('/console'), 'signing in as agent');
  if ((await page.locator('.who [data-role]').getAttribute('data-role')) !== 'agent') fail('signed in with the agent key, the page does not say agent');
  const session = (await agent.cookies()).find((c) => c.name === 'rm_session');
  if (!session || !session.httpOnly || session.sameSite !== 'Strict') fail(`the session cookie is not HttpOnly and SameSite=Strict: ${JSON.stringify(session)}`);
  checkProblems('signing in');
  phase('sign-in');

  // ------------------------------------------------------------- overview
  measure(page, 'overview');
  const stats = await overviewMatchesStats(page);
  await checkPage(page, 'overview', DESKTOP.width);
  await screenshot(page, 'overview', DESKTOP.width);
  phase('overview');

  // ------------------------------------------------------ the risky list
  await follow(page, 'header.top a[href="/console/risky-users"]', pathIs('/console/risky-users'), 'the "Risky users" link');
  measure(page, 'risky list');
  const plain = await listed(page);
  const plainUrl = page.url();
  if (plain.rows.length === 0) fail('the risky list shows no row');
  if (!Number.isInteger(plain.total) || plain.total < plain.rows.length) fail(`the risky list's total ${plain.total} is not a count of at least its ${plain.rows.length} rows`);
  await checkPage(page, 'risky list', DESKTOP.width);
  await screenshot(page, 'risky-users', DESKTOP.width);
  phase('list');

  // A filter through the form: the URL and the rows change, Back restores both.
  await page.selectOption('#f-level', 'critical');
  await follow(page, 'form.filters button[type=submit]', (u) => u.searchParams.get('level') === 'critical', 'applying level=critical');
  const critical = await listed(page);
  if (critical.rows.length === 0) fail('level=critical shows no row (the data has critical users?)');
  const notCritical = critical.rows.filter((r) => r.level !== 'critical');
  if (notCritical.length > 0) fail(`level=critical lists ${notCritical.length} other row(s), e.g. user ${notCritical[0].id} (${notCritical[0].level})`);
  if (!(critical.total < plain.total)) fail(`level=critical did not narrow the list: ${critical.total} of ${plain.total}`);
  await page.goBack({ waitUntil: 'load' });
  if (page.url() !== plainUrl) fail(`Back after filtering leads to ${page.url()}, not ${plainUrl}`);
  const back = await listed(page);
  if (back.rows.map((r) => r.id).join() !== plain.rows.map((r) => r.id).join()) fail('Back after filtering does not show the previous rows');

  // A search narrows the rows to names or emails holding the text.
  const term = plain.rows[0].name.split(/\s+/).pop().toLowerCase();
  // (Back restored the form as it was left, level=critical: choose "any" again.)
  await page.selectOption('#f-level', '');
  await page.fill('#f-q', term);
  await follow(page, 'form.filters button[type=submit]', (u) => u.searchParams.get('q') === term, `searching for ${term}`);
  const found = await listed(page);
  if (!found.rows.some((r) => r.id === plain.rows[0].id)) fail(`searching for "${term}" loses user ${plain.rows[0].id}, whose name holds it`);
  const stray = found.rows.filter((r) => !`${r.name} ${r.email}`.toLowerCase().includes(term));
  if (stray.length > 0) fail(`searching for "${term}" lists user ${stray[0].id} (${stray[0].name}, ${stray[0].email})`);
  if (!(found.total < plain.total)) fail(`searching for "${term}" did not narrow the list (${found.total} of ${plain.total})`);
  checkProblems('filtering the list');
  phase('filters');

  // The whole list at 20 a page, by "Next page", against GraphQL and the exports.
  await follow(page, 'form.filters a[href="/console/risky-users"]', (u) => u.pathname === '/console/risky-users' && u.search === '', 'the "Clear" link');
  await page.fill('#f-min', '0');
  await page.selectOption('#f-size', String(PAGE_SIZE));
  await follow(
    page,
    'form.filters button[type=submit]',
    (u) => u.searchParams.get('min_score') === '0' && u.searchParams.get('page_size') === String(PAGE_SIZE),
    'applying min_score=0, 20 rows a page',
  );
  const exportCsv = await page.locator('a[data-export=csv]').getAttribute('href');
  const exportJson = await page.locator('a[data-export=json]').getAttribute('href');
  const walked = [];
  let pages = 0;
  let total;
  let lastScore = Infinity;
  for (;;) {
    const shown = await listed(page);
    pages += 1;
    if (total === undefined) total = shown.total;
    if (shown.total !== total) fail(`page ${pages} of the walk says ${shown.total} users match, page 1 said ${total}`);
    if (shown.rows.length === 0 || shown.rows.length > PAGE_SIZE) fail(`page ${pages} of the walk has ${shown.rows.length} rows (1 to ${PAGE_SIZE})`);
    for (const row of shown.rows) {
      if (!(row.score <= lastScore)) fail(`the walk is not highest score first: user ${row.id} (${row.score}) after ${lastScore}`);
      lastScore = row.score;
      walked.push(row.id);
    }
    if (!shown.next) {
      if (!shown.end) fail(`page ${pages} of the walk has neither a next link nor the end marker`);
      break;
    }
    if (shown.end) fail(`page ${pages} has both a next link and the end marker`);
    if (pages > 1000) fail('the walk does not end');
    await follow(page, 'a[rel=next]', (u) => u.searchParams.has('after'), `"Next page" from page ${pages}`);
  }
  const repeated = walked.filter((id, i) => walked.indexOf(id) !== i);
  if (repeated.length > 0) fail(`the walk shows user ${repeated[0]} twice`);
  if (walked.length !== total) fail(`the walk shows ${walked.length} users, the page says ${total} match`);
  if (pages < 3) fail(`the walk took ${pages} page(s): the data should fill several pages of ${PAGE_SIZE}`);
  measure(page, 'risky list, last page');
  const api = await riskyWalkViaGraphql(page);
  if (walked.join() !== api.join()) fail(`the walk differs from GraphQL riskyUsers(minScore: 0) ${firstDifference(walked, api)} (${walked.length} vs ${api.length})`);
  const csv = await page.evaluate(async (href) => {
    const response = await fetch(href);
    return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
  }, exportCsv);
  if (csv.status !== 200 || !csv.type.startsWith('text/csv')) fail(`the CSV export ${exportCsv} answered ${csv.status} ${csv.type}`);
  const records = parseCsv(csv.text);
  const header = records.shift() ?? [];
  const idColumn = header.indexOf('id');
  if (idColumn < 0) fail(`the CSV export has no id column: ${header.join(',')}`);
  const widths = new Set(records.map((r) => r.length));
  if (widths.size > 1 || (records.length > 0 && records[0].length !== header.length)) fail(`the CSV export's records have ${[...widths].join('/')} fields, its header ${header.length}`);
  const csvIds = records.map((r) => r[idColumn]);
  if (csvIds.join() !== api.join()) fail(`the CSV export differs from GraphQL ${firstDifference(csvIds, api)} (${csvIds.length} vs ${api.length} rows)`);
  const json = await page.evaluate(async (href) => (await fetch(href)).json(), exportJson);
  const jsonIds = json.map((u) => String(u.id));
  if (jsonIds.join() !== api.join()) fail(`the JSON export differs from GraphQL ${firstDifference(jsonIds, api)}`);
  checkProblems('walking the list');
  phase('walk');

  // ------------------------------------------ keyboard: skip link to a user
  await visit(page, '/console/risky-users');
  const top = await listed(page);
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => {
    const el = document.activeElement;
    const box = el?.getBoundingClientRect();
    return { skip: Boolean(el?.matches('a.skip[href="#main"]')), what: el?.outerHTML.slice(0, 80), left: box?.left ?? -1 };
  });
  if (!first.skip) fail(`the first Tab focuses ${first.what}, not the skip link`);
  if (first.left < 0) fail('the focused skip link is off-screen');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'main', undefined, { timeout: 2_000 }).catch(async () => {
    fail(`Enter on the skip link leaves focus on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 80))}`);
  });
  let reached;
  let tabs = 0;
  while (!reached && tabs < 40) {
    await page.keyboard.press('Tab');
    tabs += 1;
    reached = await page.evaluate(() => {
      const el = document.activeElement;
      const row = el?.tagName === 'A' ? el.closest('table.risky tbody tr[data-user-id]') : null;
      if (!row) return null;
      return { id: row.dataset.userId, href: el.getAttribute('href'), outline: getComputedStyle(el).outlineStyle };
    });
  }
  if (!reached) fail('40 Tabs after the skip link never reach a user link in the list');
  if (reached.id !== top.rows[0].id) fail(`Tab reaches user ${reached.id}'s link before the first row's (${top.rows[0].id})`);
  if (reached.outline === 'none') fail('the focused user link shows no focus outline');
  await Promise.all([page.waitForURL(pathIs(reached.href), { waitUntil: 'load' }), page.keyboard.press('Enter')]).catch((error) =>
    fail(`Enter on the focused user link: ${error.message.split('\n')[0]}`),
  );
  const userId = reached.id;
  const userPath = `/console/users/${userId}`;
  checkProblems('using the keyboard');
  phase('keyboard');

  // ------------------------------------------------------------ user page
  measure(page, 'user');
  const sums = async () =>
    page.evaluate(() => ({
      score: Number(document.querySelector('dd[data-score]')?.dataset.score ?? NaN),
      sum: Number(document.querySelector('td[data-sum]')?.dataset.sum ?? NaN),
      parts: Array.from(document.querySelectorAll('tr[data-factor][data-contribution]'), (tr) => Number(tr.dataset.contribution)),
    }));
  const checkSums = (s, when) => {
    if (!Number.isFinite(s.score) || s.parts.length === 0) fail(`user ${userId}${when}: no dd[data-score] or no factor rows`);
    const added = s.parts.reduce((a, b) => a + b, 0);
    if (Math.abs(added - s.score) > 1e-9) fail(`user ${userId}${when}: the contributions add up to ${added}, the score is ${s.score}`);
    if (Math.abs(s.sum - s.score) > 1e-9) fail(`user ${userId}${when}: the sum shown is ${s.sum}, the score ${s.score}`);
  };
  const now = await sums();
  checkSums(now, '');
  const timeline = await page.evaluate(() => {
    const count = (list) => list.reduce((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {});
    return {
      dots: JSON.stringify(count(Array.from(document.querySelectorAll('svg#payments-timeline [data-status]'), (d) => d.dataset.status).sort())),
      rows: JSON.stringify(count(Array.from(document.querySelectorAll('tr[data-payment-status]'), (r) => r.dataset.paymentStatus).sort())),
    };
  });
  if (timeline.dots !== timeline.rows) fail(`user ${userId}: the timeline's dots ${timeline.dots} are not the payments listed ${timeline.rows}`);
  if (timeline.rows === '{}') fail(`user ${userId}: the first risky user has no payment to draw`);

  // The score as of a past day: same arithmetic, no alert form.
  const day = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  await page.fill('form#as-of input[name=as_of][type=date]', day);
  await follow(page, 'form#as-of button[type=submit]', (u) => u.searchParams.get('as_of') === day, 'the score as of a day');
  checkSums(await sums(), ` as of ${day}`);
  if ((await page.locator('form#send-alert').count()) !== 0) fail(`user ${userId} as of ${day} offers "Send alert" (a past score cannot be alerted on)`);
  if (!(await page.getByText('The score as of').isVisible())) fail(`user ${userId} as of ${day} does not say which day it shows`);
  await visit(page, userPath);

  // A double-clicked "Send alert" is one alert.
  const alertsBefore = (await gql(page, ALERT_COUNT)).alerts.totalCount;
  const casesBefore = await page.locator('article[data-case-id]').count();
  if ((await page.locator('form#send-alert[data-action=send-alert]').count()) !== 1) fail(`the agent sees no "Send alert" form on user ${userId}`);
  await page.fill('#alert-note', 'Raised by the browser check: Send alert double-clicked');
  const sentForm = await page.evaluate(() => Object.fromEntries(new FormData(document.querySelector('form#send-alert'))));
  let posts = 0;
  const countPosts = (request) => {
    if (request.method() === 'POST' && pathOf(request.url()) === `${userPath}/alert`) posts += 1;
  };
  page.on('request', countPosts);
  // (The first submission may be cut short by the second: wait for the
  // page that commits, not for the first navigation.)
  await expectErrors([], () =>
    Promise.all([
      page.waitForEvent('framenavigated', {
        predicate: (frame) => {
          if (frame !== page.mainFrame()) return false;
          const url = new URL(frame.url());
          return url.pathname === userPath && url.searchParams.has('alert');
        },
      }),
      page.locator('form#send-alert button[type=submit]').dblclick(),
    ]).then(() => page.waitForLoadState('load')),
  ).catch((error) => fail(`double-clicking "Send alert": ${error.message.split('\n')[0]}`));
  page.off('request', countPosts);
  const raisedId = await page.locator('p[data-alert-raised]').getAttribute('data-alert-raised').catch(() => null);
  if (!raisedId) fail('after "Send alert" the page does not confirm the alert (no p[data-alert-raised])');
  const alertsAfter = (await gql(page, ALERT_COUNT)).alerts.totalCount;
  if (alertsAfter !== alertsBefore + 1) fail(`a double-clicked "Send alert" (${posts} POSTs) made ${alertsAfter - alertsBefore} alerts, not 1`);
  if ((await page.locator('article[data-case-id]').count()) !== casesBefore + 1) fail(`user ${userId} shows ${await page.locator('article[data-case-id]').count()} cases after the alert, ${casesBefore} before`);
  if ((await page.locator(`article[data-case-id="${raisedId}"]`).getAttribute('data-status')) !== 'OPEN') fail(`case ${raisedId} is not shown as OPEN on the user's page`);
  // The same form sent once more (its idempotency key again): still one alert.
  const again = await page.evaluate(
    async ([url, fields]) => {
      const response = await fetch(url, { method: 'POST', body: new URLSearchParams(fields) });
      await response.text();
      return { status: response.status, url: response.url };
    },
    [`${userPath}/alert`, sentForm],
  );
  if (again.status !== 200 || !again.url.endsWith(`?alert=${raisedId}`)) fail(`the alert form sent again leads to ${again.status} ${again.url}, not alert ${raisedId}`);
  if ((await gql(page, ALERT_COUNT)).alerts.totalCount !== alertsAfter) fail('the alert form sent again made another alert');
  await checkPage(page, 'user', DESKTOP.width);
  await screenshot(page, 'user', DESKTOP.width);
  phase('user');

  // -------------------------------------------------------- the case queue
  const raiser = await newContext('raiser', DESKTOP);
  const raiserPage = await raiser.newPage();
  await signIn(raiserPage, AGENT_KEY, 'agent');
  await follow(page, 'header.top a[href="/console/cases"]', pathIs('/console/cases'), 'the "Cases" link');
  await page.locator('[data-live][data-live-ready=true]').waitFor({ state: 'attached' }).catch(() => fail('the case queue never says it is live ([data-live-ready=true])'));
  measure(page, 'cases');
  if ((await page.locator(`article[data-case-id="${raisedId}"]`).count()) !== 1) fail(`the case queue does not show case ${raisedId}`);
  await page.evaluate(() => {
    window.__rmSameDocument = true;
  });
  const liveUser = top.rows.find((r) => r.id !== userId)?.id ?? userId;
  const raisedHere = [];
  let liveId;
  for (let attempt = 1; attempt <= 2 && !liveId; attempt += 1) {
    // The subscription may reach the server just after the page says it is
    // live: a case missed then must show with the next one's refresh.
    const { sendAlert } = await gql(raiserPage, 'mutation($u: ID!) { sendAlert(userId: $u, note: "Raised by the browser check from another session") { alert { id } } }', { u: liveUser });
    raisedHere.push(sendAlert.alert.id);
    const seen = await page
      .locator(`[data-live] article[data-case-id="${sendAlert.alert.id}"]`)
      .waitFor({ state: 'attached', timeout: 5_000 })
      .then(() => true, () => false);
    if (seen) liveId = sendAlert.alert.id;
    else notes.push(`live queue: case ${sendAlert.alert.id} did not appear within 5 s (attempt ${attempt})`);
  }
  // What the live region shows must be what a reload shows: every case, in order.
  await page.waitForLoadState('networkidle').catch(() => {});
  const liveShown = await page.evaluate(() => Array.from(document.querySelectorAll('[data-live] article[data-case-id]'), (a) => a.dataset.caseId));
  const reloaded = await page.evaluate(async () => {
    const html = await (await fetch('/console/cases')).text();
    const doc = new DOMParser().parseFromString(html, 'text/html');
    return Array.from(doc.querySelectorAll('[data-live] article[data-case-id]'), (a) => a.dataset.caseId);
  });
  if (!liveId) {
    fail(`cases ${raisedHere.join(', ')} raised in another session never appear in the open queue without a reload (it shows ${liveShown.join(', ')}; a reload shows ${reloaded.join(', ')})`);
  }
  if (liveShown.join() !== reloaded.join()) {
    defect(`after a live update the queue shows cases [${liveShown.join(', ')}], a reload shows [${reloaded.join(', ')}] (missing: ${reloaded.filter((id) => !liveShown.includes(id)).join(', ') || 'none'})`);
  }
  if (!(await page.evaluate(() => window.__rmSameDocument === true))) fail('the case queue reloaded the whole page instead of updating live');
  const status = await page.locator('#live-status').textContent();
  const card = page.locator(`article[data-case-id="${liveId}"]`);
  if ((await card.getAttribute('data-status')) !== 'OPEN') fail(`the new case ${liveId} is not OPEN`);
  await follow(page, `article[data-case-id="${liveId}"] form[data-action=acknowledge] button[type=submit]`, pathIs('/console/cases'), `acknowledging case ${liveId}`);
  const acknowledged = page.locator(`article[data-case-id="${liveId}"]`);
  if ((await acknowledged.getAttribute('data-status')) !== 'ACKNOWLEDGED') fail(`after "Acknowledge" case ${liveId} shows ${await acknowledged.getAttribute('data-status')}`);
  if ((await acknowledged.locator('.status').textContent())?.trim() !== 'acknowledged') fail(`case ${liveId}'s status badge does not read "acknowledged"`);
  if ((await gql(page, CASE, { id: liveId })).alert.status !== 'ACKNOWLEDGED') fail(`GraphQL does not see case ${liveId} acknowledged`);
  await page.locator('[data-live][data-live-ready=true]').waitFor({ state: 'attached' });

  // An agent's form without the token is refused.
  const agentCsrf = await page.locator('input[name=_csrf]').first().inputValue();
  if (!/^[0-9a-f]{64}$/.test(agentCsrf)) fail(`the agent's forms carry no CSRF token (${JSON.stringify(agentCsrf)})`);
  const openCase = (await gql(page, CASE, { id: raisedId })).alert;
  const noToken = await expectErrors([403], () =>
    postForm(page, `/console/cases/${raisedId}`, { version: String(openCase.version), back: '/console/cases', action: 'acknowledge' }),
  );
  if (noToken.status !== 403) fail(`an agent's case action without _csrf answered ${noToken.status}, not 403`);
  if (!noToken.type.startsWith('text/html') || !/<h1>/.test(noToken.text)) fail('the refusal of a form without _csrf is not a readable page');
  const afterNoToken = (await gql(page, CASE, { id: raisedId })).alert;
  if (JSON.stringify(afterNoToken) !== JSON.stringify(openCase)) fail(`a refused action changed case ${raisedId}: ${JSON.stringify(openCase)} → ${JSON.stringify(afterNoToken)}`);
  await checkPage(page, 'cases', DESKTOP.width);
  await screenshot(page, 'cases', DESKTOP.width);
  phase('cases');

  // ------------------------------------------------------------ error pages
  const missing = await expectErrors([404], () => visit(page, '/console/users/999999999', 404));
  const readable = async (what) => {
    const shown = await page.evaluate(() => ({
      type: document.contentType,
      h1: document.querySelector('main h1')?.textContent.trim() ?? '',
      message: document.querySelector('main h1 + p')?.textContent.trim() ?? '',
      body: document.body.innerText.trim(),
    }));
    if (shown.type !== 'text/html' || !shown.h1 || shown.message.length < 10 || /^[[{]/.test(shown.body)) {
      fail(`${what} is not a readable page: ${JSON.stringify(shown).slice(0, 300)}`);
    }
    return shown;
  };
  if (!missing.headers()['content-type']?.startsWith('text/html')) fail('an unknown user answers something else than HTML');
  const notFound = await readable('an unknown user');
  await checkPage(page, 'not-found user', DESKTOP.width);
  await expectErrors([422], () => visit(page, '/console/risky-users?level=nope', 422));
  const invalid = await readable('a bad filter');
  if (!/level|nope/i.test(invalid.message)) fail(`the 422 page names neither the filter nor the value: ${invalid.message}`);
  if (!/level/i.test(invalid.message)) notes.push(`the 422 page for ?level=nope does not name the field: "${invalid.message}"`);
  checkProblems('the error pages');
  phase('errors');

  // --------------------------------------------------------------- viewer
  const viewer = await newContext('viewer', DESKTOP);
  const vpage = await viewer.newPage();
  await signIn(vpage, VIEWER_KEY, 'viewer');
  await visit(vpage, userPath);
  if ((await vpage.locator('article[data-case-id]').count()) === 0) fail(`the viewer sees no case on user ${userId}`);
  if ((await vpage.locator('form[data-action]').count()) !== 0) fail(`the viewer sees ${await vpage.locator('form[data-action]').count()} action form(s) on user ${userId}`);
  await visit(vpage, '/console/cases');
  if ((await vpage.locator('article[data-case-id]').count()) === 0) fail('the viewer sees no case in the queue');
  if ((await vpage.locator('form[data-action]').count()) !== 0) fail('the viewer sees action forms in the case queue');
  if ((await vpage.locator('input[name=_csrf]').count()) !== 0) fail('the viewer\'s pages carry a CSRF token though they have no form');
  const before = (await gql(page, CASE, { id: raisedId })).alert;
  const alertsNow = (await gql(page, ALERT_COUNT)).alerts.totalCount;
  for (const [what, token] of [
    ['without a token', ''],
    ["with the agent's token", agentCsrf],
  ]) {
    const forged = await expectErrors([403], () =>
      postForm(vpage, `/console/cases/${raisedId}`, { _csrf: token, version: String(before.version), back: '/console/cases', action: 'acknowledge' }),
    );
    if (forged.status !== 403) fail(`the viewer's forged case action ${what} answered ${forged.status}, not 403`);
    const alertForged = await expectErrors([403], () =>
      postForm(vpage, `${userPath}/alert`, { _csrf: token, note: 'forged', idempotency_key: randomUUID() }),
    );
    if (alertForged.status !== 403) fail(`the viewer's forged "Send alert" ${what} answered ${alertForged.status}, not 403`);
  }
  const afterForged = (await gql(page, CASE, { id: raisedId })).alert;
  if (JSON.stringify(afterForged) !== JSON.stringify(before)) fail(`the viewer's refused actions changed case ${raisedId}`);
  if ((await gql(page, ALERT_COUNT)).alerts.totalCount !== alertsNow) fail("the viewer's refused alerts made an alert");
  checkProblems('the viewer');
  phase('viewer');

  // ------------------------------------------------------- phone, 390 px
  const phone = await newContext('phone', PHONE, { isMobile: true, hasTouch: true });
  const ppage = await phone.newPage();
  await visit(ppage, '/console/login');
  await checkPage(ppage, 'login', PHONE.width);
  await screenshot(ppage, 'login', PHONE.width);
  await ppage.fill('input[name=key]', AGENT_KEY);
  await follow(ppage, 'form[action="/console/login"] button[type=submit]', pathIs('/console'), 'signing in on the phone');
  await checkPage(ppage, 'overview', PHONE.width);
  await screenshot(ppage, 'overview', PHONE.width);
  await visit(ppage, '/console/risky-users');
  const cards = await ppage.evaluate(() => {
    const rows = Array.from(document.querySelectorAll('table.cards tbody tr'));
    const head = document.querySelector('table.cards thead')?.getBoundingClientRect();
    return { rows: rows.length, block: rows.filter((r) => getComputedStyle(r).display === 'block').length, head: head ? [head.width, head.height] : null };
  });
  if (cards.rows === 0 || cards.block !== cards.rows) fail(`at 390px ${cards.block} of ${cards.rows} list rows are shown as cards (display: block)`);
  if (!cards.head || cards.head[0] > 1 || cards.head[1] > 1) fail(`at 390px the list's header row is visible (${cards.head})`);
  await checkPage(ppage, 'risky list', PHONE.width);
  await screenshot(ppage, 'risky-users', PHONE.width);
  await visit(ppage, userPath);
  await checkPage(ppage, 'user', PHONE.width);
  await screenshot(ppage, 'user', PHONE.width);
  await visit(ppage, '/console/cases');
  await ppage.locator('[data-live][data-live-ready=true]').waitFor({ state: 'attached' });
  await checkPage(ppage, 'cases', PHONE.width);
  await screenshot(ppage, 'cases', PHONE.width);
  await expectErrors([404], () => visit(ppage, '/console/users/999999999', 404));
  await checkPage(ppage, 'not-found user', PHONE.width);
  phase('phone');

  // -------------------------------------------------------------- sign out
  await visit(page, '/console');
  const oldCookie = (await agent.cookies()).find((c) => c.name === 'rm_session');
  await follow(page, 'form[action="/console/logout"] button[type=submit]', pathIs('/console/login'), 'signing out');
  if ((await page.locator('form[action="/console/login"] input[name=key]').count()) !== 1) fail('signing out does not show the sign-in form');
  if ((await agent.cookies()).some((c) => c.name === 'rm_session' && c.value)) fail('signing out leaves the session cookie');
  await visit(page, '/console');
  const signedOut = new URL(page.url());
  if (signedOut.pathname !== '/console/login' || signedOut.searchParams.get('next') !== '/console') fail(`after signing out /console leads to ${pathOf(page.url())}`);
  const replay = await newContext('replay', DESKTOP);
  await replay.addCookies([oldCookie]);
  const rpage = await replay.newPage();
  await visit(rpage, '/console');
  if (!rpage.url().startsWith(`${origin}/console/login`)) fail('the session cookie still opens the console after signing out');
  checkProblems('signing out');
  phase('sign-out');

  await Promise.all(pending);
  checkProblems('the whole walk');
  if (defects.length > 0) fail(`${defects.length} defect(s):\n  ${defects.join('\n  ')}`);
  const requests = measured.map((m) => `${m.name} ${m.list.length}`).join(', ');
  const worst = Math.max(...measured.map((m) => m.list.length));
  const lesser = axeRuns.reduce((n, r) => n + r.lesser, 0);
  for (const note of notes) console.log(`note: ${note}`);
  console.log(`note: data requests per page: ${measured.map((m) => `${m.name} [${m.list.join(', ')}]`).join('; ')}`);
  console.log(`note: time per step: ${phases.join(', ')}; axe ${axeRuns.map((r) => `${r.name}@${r.width} ${(r.ms / 1000).toFixed(1)}s`).join(', ')}`);
  console.log(`note: deliberate HTTP errors seen: ${expectedErrors.length} (${expectedErrors.map((e) => e.replace(/^\w+: /, '')).join('; ')})`);
  console.log(
    `console ok: users=${stats.totalUsers} active=${stats.activeUsers} high-risk=${stats.highRiskUsers} ` +
      `walk=${walked.length} users in ${pages} pages of ${PAGE_SIZE} (= GraphQL, CSV, JSON) ` +
      `filters=level,q,back alert=#${raisedId} (double-click: ${posts} POSTs, 1 alert) live=#${liveId} acknowledged ` +
      `forged=403 keyboard=${tabs + 1} tabs to the first user axe=${axeRuns.length} pages clean (${lesser} lesser) ` +
      `requests/page<=${worst} (${requests}) [${status?.trim()}]`,
  );
}

// ---------------------------------------------------------------- running

let finished = false;
async function cleanUp() {
  for (const context of contexts) await context.close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
}
async function report(error) {
  const reason = error instanceof Failure ? error.message : `unexpected error: ${error?.stack || error}`;
  console.error(`console FAILED: ${reason}`);
  if (problems.length > 0) console.error(`problems seen:\n  ${problems.join('\n  ')}`);
  if (notes.length > 0) console.error(`notes:\n  ${notes.join('\n  ')}`);
  if (phases.length > 0) console.error(`time per step: ${phases.join(', ')}`);
  console.error(`the last requests (${requestLog.length} in all):\n  ${requestLog.slice(-40).join('\n  ')}`);
  for (const context of contexts) {
    for (const page of context.pages()) {
      await page
        .screenshot({ path: path.join(shotDir, `failure-${contexts.indexOf(context)}.png`), fullPage: true, timeout: 5_000 })
        .catch(() => {});
    }
  }
  await cleanUp();
  process.exit(1);
}
const overall = setTimeout(() => {
  if (finished) return;
  finished = true;
  setTimeout(() => process.exit(1), 10_000).unref();
  report(new Failure(`did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`));
}, OVERALL_TIMEOUT_MS);

run().then(
  async () => {
    if (finished) return;
    finished = true;
    clearTimeout(overall);
    await cleanUp();
  },
  (error) => {
    if (finished) return;
    finished = true;
    clearTimeout(overall);
    return report(error);
  },
);
