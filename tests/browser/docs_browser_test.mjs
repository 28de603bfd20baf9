// Swagger UI at /docs, in a real browser: Debian's chromium, headless, driven by playwright-core
// (web/package.json). Starts its own ecomd on a free loopback port with a temporary data dir and
// checks, failing on the first broken point:
//   1. /docs renders one operation block per operation of /openapi.json, and every request the
//      page makes goes to this server (no CDN, no validator badge);
//   2. "Try it out" on GET /healthz executes and shows 200 {"status":"ok"};
//   3. GET /admin/stats through "Try it out" is 401 before "Authorize" and 200 after the admin
//      token was entered there (the call carries the bearer token).
// Usage: node docs_browser_test.mjs <ecomd binary> <web dir with node_modules>
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const [ecomdBinary, webDir] = process.argv.slice(2);
if (!ecomdBinary || !webDir) {
  console.error('usage: node docs_browser_test.mjs <ecomd> <web dir>');
  process.exit(2);
}
const { chromium } = createRequire(path.resolve(webDir, 'package.json'))('playwright-core');
const chromiumPath = process.env.ECOM_CHROMIUM || '/usr/bin/chromium';
const adminToken = 'browser-test-admin-token-5c1e';
const testTimeoutMs = 120_000;  // the whole test, start to end
const stepTimeoutMs = 30_000;   // one wait in the page

let server = null;  // the ecomd child, killed on every way out

function fail(message) {
  throw new Error(message);
}

// Starts ecomd with --port 0 and resolves with its port once /readyz answers 200.
async function startServer(dataDir) {
  const child = spawn(ecomdBinary, ['--port', '0', '--data-dir', dataDir, '--admin-token',
                                    adminToken, '--log-level', 'warn'],
                      { stdio: ['ignore', 'pipe', 'pipe'] });
  server = child;
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const port = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`ecomd did not listen: ${stderr}`)), 20_000);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const found = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (found) {
        clearTimeout(timer);
        resolve(Number(found[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`ecomd exited with ${code}: ${stderr}`)));
  });
  for (let i = 0; i < 200; ++i) {
    const answer = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
    if (answer && answer.status === 200) return port;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`ecomd on port ${port} did not become ready: ${stderr}`);
}

// Opens an operation's block, presses "Try it out" and "Execute", and returns the status code
// and body the page shows.
async function tryItOut(page, blockId) {
  const block = page.locator(`#${blockId}`);
  if (await block.count() !== 1) fail(`no operation block #${blockId}`);
  if (!(await block.locator('.opblock-body').count())) {
    await block.locator('.opblock-summary').first().click();
  }
  const tryOut = block.locator('button.try-out__btn');
  if ((await tryOut.textContent()).includes('Try it out')) await tryOut.click();
  const responses = block.locator('.live-responses-table tbody .response-col_status');
  const before = await responses.count();
  await block.locator('button.execute').click();
  await responses.first().waitFor({ timeout: stepTimeoutMs });
  if (before > 0) await page.waitForTimeout(200);
  const status = (await responses.first().textContent()).trim();
  const body = (await block.locator('.live-responses-table .response-col_description pre')
                    .first().textContent()).trim();
  // "Clear" so that the next execute of this block waits for a fresh answer.
  const clear = block.locator('button.btn-clear');
  if (await clear.count()) await clear.click();
  return { status, body };
}

async function run() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecomd-browser-'));
  const port = await startServer(dataDir).catch((e) => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  });
  const base = `http://127.0.0.1:${port}`;
  let browser;
  try {
    const documented = await (await fetch(`${base}/openapi.json`)).json();
    // Swagger UI shows an operation once under each of its tags.
    const expected = new Map();  // "GET /path" -> number of blocks
    for (const [p, item] of Object.entries(documented.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (method === 'parameters') continue;
        expected.set(`${method.toUpperCase()} ${p}`, Math.max(1, (operation.tags || []).length));
      }
    }
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    const foreign = [];
    const pageErrors = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.protocol !== 'data:' && url.host !== `127.0.0.1:${port}`) foreign.push(r.url());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // 1. One block per operation.
    await page.goto(`${base}/docs`, { timeout: stepTimeoutMs });
    await page.locator('.opblock').first().waitFor({ timeout: stepTimeoutMs });
    const shown = await page.locator('.opblock').evaluateAll((blocks) => blocks.map((b) =>
      `${b.querySelector('.opblock-summary-method').textContent.trim()} ` +
      `${b.querySelector('.opblock-summary-path').getAttribute('data-path')}`));
    const counted = new Map();
    for (const o of shown) counted.set(o, (counted.get(o) || 0) + 1);
    const wrong = [...new Set([...expected.keys(), ...counted.keys()])]
        .filter((o) => expected.get(o) !== counted.get(o))
        .map((o) => `${o}: ${counted.get(o) || 0} blocks for ${expected.get(o) || 0} tags`);
    if (wrong.length) fail(`operation blocks differ from the document: ${wrong.join('; ')}`);
    console.log(`ok: ${expected.size} operations of /openapi.json, each in a block under each ` +
                `of its tags (${shown.length} blocks)`);

    // 2. Try it out on GET /healthz.
    const health = await tryItOut(page, 'operations-ops-getHealth');
    if (health.status !== '200' || !/"status":\s*"ok"/.test(health.body)) {
      fail(`GET /healthz through "Try it out": ${health.status} ${health.body}`);
    }
    console.log('ok: "Try it out" on GET /healthz answered 200 {"status":"ok"}');

    // 3. An authorized call: 401 without the token, 200 once "Authorize" has it.
    const anonymous = await tryItOut(page, 'operations-admin-getAdminStats');
    if (anonymous.status !== '401') fail(`GET /admin/stats before Authorize: ${anonymous.status}`);
    await page.locator('button.authorize').first().click();
    const dialog = page.locator('.dialog-ux');
    await dialog.locator('input').first().fill(adminToken);
    await dialog.locator('button.authorize').first().click();
    await dialog.locator('button.btn-done, button.close-modal').first().click();
    const authorized = await tryItOut(page, 'operations-admin-getAdminStats');
    if (authorized.status !== '200' || !authorized.body.includes('"shards"')) {
      fail(`GET /admin/stats after Authorize: ${authorized.status} ${authorized.body}`);
    }
    console.log('ok: GET /admin/stats was 401 before Authorize and 200 after it');

    if (foreign.length) fail(`the page asked other hosts: ${foreign.join(', ')}`);
    if (pageErrors.length) fail(`errors in the page: ${pageErrors.join('; ')}`);
    console.log('ok: every request went to this server; no error in the page');
  } finally {
    if (browser) await browser.close();
    server.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

process.on('exit', () => { if (server) server.kill('SIGKILL'); });
const deadline = setTimeout(() => {
  console.error(`FAIL: not done within ${testTimeoutMs} ms`);
  process.exit(1);
}, testTimeoutMs);
run().then(() => {
  clearTimeout(deadline);
  console.log('PASS');
  process.exit(0);
}, (error) => {
  clearTimeout(deadline);
  console.error(`FAIL: ${error.message}`);
  process.exit(1);
});
