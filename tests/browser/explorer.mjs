// Headless-browser check of Risk Monitor's GraphiQL explorer.
//
// Usage: node explorer.mjs <base-url> <screenshot.png>
//   e.g. node tests/browser/explorer.mjs http://127.0.0.1:8080 target/explorer.png
//
// Drives Debian's Chromium (/usr/bin/chromium) through playwright-core (which
// never downloads a browser) and checks, as a person would, that:
//   1. <base>/graphiql loads and shows the query editor;
//   2. the documentation explorer shows the schema's root types (Query) and,
//      inside Query, the field riskyUsers (so introspection through /graphql works);
//   3. a riskyUsers query typed into the editor and run returns JSON with
//      "totalCount" and at least one "riskScore";
//   4. a subscription run in the editor receives an alert raised meanwhile,
//      over the page's WebSocket to <base>/graphql/ws;
//   5. no request made by the page goes to any origin other than <base>'s
//      (every request is recorded; one to another origin is aborted and fails
//      the run), no request fails and no response is an HTTP error, and the
//      page throws no uncaught error.
// On success prints one line `explorer ok: totalCount=<n> subscription=alertRaised` and exits 0; on any
// failure prints `explorer FAILED: <reason>` (plus the recorded requests) to
// stderr and exits 1. A screenshot is written to <screenshot.png> in both cases.
// The whole run is bounded by OVERALL_TIMEOUT_MS.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const OVERALL_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 20_000;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TEST_QUERY =
  '{ riskyUsers(first: 5) { totalCount edges { node { user { name } riskScore } } } }';

const SUBSCRIPTION_QUERY = 'subscription { alertRaised(minLevel: LOW) { id riskLevel } }';

class Failure extends Error {}

function fail(reason) {
  throw new Failure(reason);
}

const [baseArg, screenshotPath] = process.argv.slice(2);
if (!baseArg || !screenshotPath || process.argv.length !== 4) {
  console.error('usage: node explorer.mjs <base-url> <screenshot.png>');
  process.exit(1);
}
let base;
try {
  base = new URL(baseArg);
} catch {
  console.error(`explorer FAILED: base URL ${JSON.stringify(baseArg)} is not a URL`);
  process.exit(1);
}
if (base.protocol !== 'http:' && base.protocol !== 'https:') {
  console.error(`explorer FAILED: base URL must be http(s), got ${base.href}`);
  process.exit(1);
}
const origin = base.origin;
const explorerUrl = `${base.href.replace(/\/+$/, '')}/graphiql`;

// Every request the page makes, in order, as "METHOD url".
const requests = [];
// Problems seen by the event handlers; any one fails the run.
const problems = [];

function isLocal(url) {
  // data:, blob: and about: URLs never touch the network.
  if (/^(data|blob|about):/i.test(url)) return true;
  try {
    return new URL(url).origin === origin;
  } catch {
    return false;
  }
}

let context;
let page;
let profileDir;
let finished = false;

async function screenshot() {
  if (!page || page.isClosed()) return;
  try {
    await page.screenshot({ path: screenshotPath, fullPage: true, timeout: 5_000 });
  } catch (error) {
    console.error(`(could not take screenshot ${screenshotPath}: ${error.message})`);
  }
}

async function cleanUp() {
  if (context) await context.close().catch(() => {});
  if (profileDir) await rm(profileDir, { recursive: true, force: true }).catch(() => {});
}

async function report(error) {
  const reason = error instanceof Failure ? error.message : `unexpected error: ${error?.stack || error}`;
  console.error(`explorer FAILED: ${reason}`);
  if (problems.length > 0) console.error(`problems seen:\n  ${problems.join('\n  ')}`);
  console.error(`requests made by the page (${requests.length}):\n  ${requests.join('\n  ')}`);
  await screenshot();
  await cleanUp();
  process.exit(1);
}

// The overall bound: past it, report the failure (with a screenshot), and if
// even that hangs, exit anyway (playwright-core kills the browser it started).
const overall = setTimeout(() => {
  if (finished) return;
  finished = true;
  setTimeout(() => process.exit(1), 5_000).unref();
  report(new Failure(`did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`));
}, OVERALL_TIMEOUT_MS);

async function run() {
  profileDir = await mkdtemp(path.join(tmpdir(), 'risk-monitor-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
    timeout: STEP_TIMEOUT_MS,
    serviceWorkers: 'block',
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);

  // Record every request; let same-origin ones through and stop any other.
  context.on('request', (request) => {
    requests.push(`${request.method()} ${request.url()}`);
  });
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isLocal(url)) {
      await route.continue();
    } else {
      problems.push(`request to another origin: ${route.request().method()} ${url}`);
      await route.abort('blockedbyclient');
    }
  });
  context.on('requestfailed', (request) => {
    const url = request.url();
    if (isLocal(url)) {
      problems.push(`request failed: ${request.method()} ${url} (${request.failure()?.errorText})`);
    }
  });
  context.on('response', (response) => {
    if (response.status() >= 400) {
      problems.push(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
    }
  });

  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (error) => problems.push(`uncaught error in the page: ${error.message}`));
  page.on('websocket', (socket) => {
    if (!isLocal(socket.url().replace(/^ws/, 'http'))) {
      problems.push(`websocket to another origin: ${socket.url()}`);
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error') console.error(`(browser console error: ${message.text()})`);
  });
  const checkProblems = (step) => {
    if (problems.length > 0) fail(`${step}: ${problems[0]}`);
  };

  // 1. The page and its editor.
  const response = await page.goto(explorerUrl, { waitUntil: 'load' }).catch((error) => {
    fail(`could not open ${explorerUrl}: ${error.message}`);
  });
  if (!response) fail(`no response for ${explorerUrl}`);
  if (!response.ok()) fail(`GET ${explorerUrl} answered HTTP ${response.status()}`);
  const title = await page.title();
  if (!title.includes('GraphiQL')) fail(`unexpected page title ${JSON.stringify(title)}`);
  const queryEditor = page.locator('.graphiql-query-editor .CodeMirror');
  await queryEditor.waitFor({ state: 'visible' }).catch(() => {
    fail('the GraphiQL query editor did not appear (did the scripts under /graphiql/assets/ load?)');
  });
  checkProblems('loading the page');

  // 2. The documentation explorer: root types, then Query's fields.
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click().catch(() => {
    fail('no "Show Documentation Explorer" button');
  });
  const docs = page.locator('.graphiql-doc-explorer');
  await docs.waitFor({ state: 'visible' }).catch(() => fail('the documentation explorer did not open'));
  // The root types read "query: Query", i.e. <span class=…root-type>query</span>: <a>Query</a>.
  const queryRoot = docs.locator('.graphiql-doc-explorer-root-type + a.graphiql-doc-explorer-type-name', {
    hasText: /^Query$/,
  });
  await queryRoot.first().waitFor({ state: 'visible' }).catch(async () => {
    const text = (await docs.innerText().catch(() => '')).slice(0, 300);
    fail(`the docs pane does not show the root type Query (introspection failed?); it shows: ${JSON.stringify(text)}`);
  });
  await queryRoot.first().click();
  await docs
    .locator('.graphiql-doc-explorer-field-name', { hasText: /^riskyUsers$/ })
    .first()
    .waitFor({ state: 'visible' })
    .catch(() => fail('the docs for Query do not list the field riskyUsers'));
  checkProblems('browsing the docs');

  // 3. Type the query, run it, read the result.
  const replaced = await page.evaluate((query) => {
    const editor = document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror;
    if (!editor) return false;
    editor.setValue(query);
    editor.focus();
    return editor.getValue() === query;
  }, TEST_QUERY);
  if (!replaced) fail('could not replace the query editor content through CodeMirror');
  // GraphiQL takes in an edit after a 100 ms debounce (operation name, tab
  // state); clicking run before that would send the new text with the old
  // default query's operation name. Its handler saves the text to
  // localStorage "graphiql:query", so wait for that (then two frames for React).
  await page
    .waitForFunction((query) => localStorage.getItem('graphiql:query') === query, TEST_QUERY, { timeout: 5_000 })
    .catch(() => console.error('(GraphiQL did not save the edited query within 5 s; running it anyway)'));
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  await page.locator('button.graphiql-execute-button').click().catch(() => fail('no run/execute button'));
  const result = page.locator('.graphiql-response .CodeMirror');
  await page
    .waitForFunction(
      () => {
        const text = document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror?.getValue() ?? '';
        if (text.includes('"totalCount"') && text.includes('"riskScore"')) return true;
        // A complete answer without them (errors, no edges): stop waiting, the checks below say why.
        try {
          const answer = JSON.parse(text);
          return Boolean(answer && (answer.errors || answer.data));
        } catch {
          return false;
        }
      },
      undefined,
      { timeout: STEP_TIMEOUT_MS },
    )
    .catch(async () => {
      const text = await result.evaluate((el) => el.CodeMirror?.getValue()).catch(() => '');
      fail(`the result pane never showed "totalCount" and "riskScore"; it shows: ${JSON.stringify((text || '').slice(0, 500))}`);
    });
  const resultText = await result.evaluate((el) => el.CodeMirror.getValue());
  let body;
  try {
    body = JSON.parse(resultText);
  } catch (error) {
    fail(`the result pane is not JSON (${error.message}): ${resultText.slice(0, 300)}`);
  }
  if (body.errors) fail(`the query returned errors: ${JSON.stringify(body.errors).slice(0, 500)}`);
  const connection = body?.data?.riskyUsers;
  const totalCount = connection?.totalCount;
  if (!Number.isInteger(totalCount)) fail(`data.riskyUsers.totalCount is not an integer: ${resultText.slice(0, 300)}`);
  const edges = connection.edges;
  if (!Array.isArray(edges) || edges.length === 0) fail('data.riskyUsers.edges is empty: no risky user to show');
  if (edges.length > 5) fail(`asked for 5 edges, got ${edges.length}`);
  for (const edge of edges) {
    if (typeof edge?.node?.riskScore !== 'number') fail(`an edge has no numeric riskScore: ${JSON.stringify(edge)}`);
    if (typeof edge?.node?.user?.name !== 'string') fail(`an edge has no user name: ${JSON.stringify(edge)}`);
  }
  if (!requests.some((request) => request === `POST ${origin}/graphql`)) {
    fail(`the explorer never POSTed to ${origin}/graphql`);
  }
  checkProblems('running the query');

  // 4. A subscription: run it, make an event happen, see it arrive over the
  // page's WebSocket to /graphql/ws.
  const socketUrl = `${origin.replace(/^http/, 'ws')}/graphql/ws`;
  let subscribed = false;
  page.on('websocket', (socket) => {
    socket.on('framesent', (frame) => {
      if (socket.url() === socketUrl && String(frame.payload).includes('"subscribe"')) subscribed = true;
    });
  });
  const setQuery = async (query) => {
    const done = await page.evaluate((text) => {
      const editor = document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror;
      if (!editor) return false;
      editor.setValue(text);
      return editor.getValue() === text;
    }, query);
    if (!done) fail('could not replace the query editor content through CodeMirror');
    await page
      .waitForFunction((text) => localStorage.getItem('graphiql:query') === text, query, { timeout: 5_000 })
      .catch(() => console.error('(GraphiQL did not save the edited query within 5 s; running it anyway)'));
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  };
  await setQuery(SUBSCRIPTION_QUERY);
  await page.locator('button.graphiql-execute-button').click().catch(() => fail('no run/execute button'));
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!subscribed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!subscribed) fail(`the explorer never sent a subscribe message over ${socketUrl}`);
  // Raise alerts (the page's own session: AUTH=off, the local administrator)
  // until one shows in the result pane; the first may race the subscription.
  let heard = false;
  while (!heard && Date.now() < deadline) {
    await page.evaluate(() =>
      fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation { sendAlert(userId: "1") { alert { id } } }' }),
      }),
    );
    heard = await page
      .waitForFunction(
        () => (document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror?.getValue() ?? '').includes('"alertRaised"'),
        undefined,
        { timeout: 1_000 },
      )
      .then(() => true, () => false);
  }
  if (!heard) {
    const text = await result.evaluate((el) => el.CodeMirror?.getValue()).catch(() => '');
    fail(`the subscription's result never showed an alert; it shows: ${JSON.stringify((text || '').slice(0, 300))}`);
  }
  checkProblems('running a subscription');

  await screenshot();
  if (finished) return; // the overall timeout fired meanwhile and reported
  finished = true;
  clearTimeout(overall);
  await cleanUp();
  console.log(`explorer ok: totalCount=${totalCount} subscription=alertRaised`);
}

run().catch((error) => {
  if (finished) return;
  finished = true;
  clearTimeout(overall);
  return report(error);
});
