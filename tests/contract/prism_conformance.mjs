// Contract conformance judged by an independent tool: Stoplight Prism (`prism proxy`, from
// web/package.json) validates every request and response of the e2e tests and of an
// `ecom-load mixed` run against the OpenAPI document the server serves.
//
//   e2e test client ──> recorder ──> prism proxy ──> router ──> the ecomd the test started
//   ecom-load       ──┘                                     └─> an ecomd started here
//
// The e2e client (tests/support/http_client.cc, with ECOM_E2E_CONTRACT_PROXY_PORT set) names
// its server in X-Ecom-Upstream-Port; the router sends each request there (ecom-load's go to
// the server started for it). Prism reports what it finds in an `sl-violations` header; the
// recorder keeps it with the status and removes it. Verdict, after both runs:
//   * a response that breaks the document: failure (the server does not do what it says);
//   * a request that breaks the document but got a 2xx or 3xx: failure (the server accepted
//     what the document forbids);
//   * a request that breaks it and got a 4xx: what the e2e tests mean to send (bad input).
// The e2e tests must pass through the proxy as they pass without it.
//
// Usage: node prism_conformance.mjs <ctest> <build dir> <web dir> <openapi.json>
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const [ctest, buildDir, webDir, openapiPath] =
    process.argv.slice(2).map((p) => p && path.resolve(p));
if (!ctest || !buildDir || !webDir || !openapiPath) {
  console.error('usage: node prism_conformance.mjs <ctest> <build dir> <web dir> <openapi.json>');
  process.exit(2);
}
const binDir = path.join(buildDir, 'bin');
const adminToken = 'contract-admin-token-9b2f';
const e2eTimeoutMs = 20 * 60_000;
const loadSeconds = 8;
const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

// The e2e tests that go through Prism: every ctest of label e2e (each in its own process, with
// its own server, as the test command runs them), but those a proxy in between changes by
// design: raw bytes that are not HTTP Prism could forward (malformed requests, pipelining,
// trickled headers, chunked bodies, early answers), one TCP connection watched (idle timeouts,
// keep-alive, shutdown; the test TCP proxy's own tests count its connections and cut them), a
// header block over 16 KiB (Prism's own HTTP server answers 431 before ecomd sees it) and a PNG
// (Prism hands binary bodies on as UTF-8 text). Named by pattern so that a new test is checked
// by default.
const excluded = process.env.ECOM_CONTRACT_EXCLUDE ||
    '^(http_conventions|idle_timeout|ops_shutdown|tcp_proxy_over_ecomd)\\.' +
    '|^bad_input\\.hundred_kilobyte_header|^ops\\.docs_serves_swagger_ui';

function log(line) { console.log(`[contract] ${line}`); }

function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d) => { out += d; if (options.echo) process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; if (options.echo) process.stderr.write(d); });
    const timer = options.timeoutMs && setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? 128, signal, out });
    });
  });
}

// ---- the router: Prism's upstream -------------------------------------------------------------
// Prism forwards a body it parsed and wrote again (1000.0 becomes 1000, a 64-bit id loses digits,
// a repeated key disappears), so the router sends the server the bytes the client sent, which
// the recorder keeps under X-Ecom-Exchange. Prism judged the request all the same.
let defaultUpstream = 0;
const originalBodies = new Map();  // exchange id -> Buffer
const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
function forward(req, res, port, body) {
  const headers = { ...req.headers };
  delete headers['x-ecom-upstream-port'];
  delete headers['x-ecom-exchange'];
  delete headers['transfer-encoding'];
  if (body.length || headers['content-length'] !== undefined) {
    headers['content-length'] = String(body.length);
  }
  const out = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers,
                             agent: upstreamAgent }, (answer) => {
    res.writeHead(answer.statusCode, answer.rawHeaders);
    answer.pipe(res);
  });
  out.on('error', (e) => { res.writeHead(502); res.end(`router: ${e.message}`); });
  out.end(body);
}
function readBody(req) {
  return new Promise((resolve) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
  });
}
const router = http.createServer(async (req, res) => {
  const named = Number(req.headers['x-ecom-upstream-port']);
  const port = named > 0 ? named : defaultUpstream;
  const forwarded = await readBody(req);
  const id = req.headers['x-ecom-exchange'];
  const original = id !== undefined ? originalBodies.get(id) : undefined;
  if (id !== undefined) originalBodies.delete(id);
  forward(req, res, port, original ?? forwarded);
});

// ---- the recorder: in front of Prism ----------------------------------------------------------
// Two kinds of body never reach Prism, which cannot take them: one that is not JSON (Prism leaves
// the request unanswered) and one nested deeper than prismDepthMax (Prism's process dies of it).
// They go straight to the router and are counted as not judged.
const exchanges = [];  // {source, method, path, status, violations}
let source = 'e2e';
let notJudged = 0;
let nextExchange = 0;
const prismAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
let prismPort = 0;
let routerPort = 0;
let prismStopping = false;
const prismDepthMax = 256;
function nestingDepth(text) {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if (inString) {
      if (c === '\\') ++i;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === '[' || c === '{') {
      deepest = Math.max(deepest, ++depth);
    } else if (c === ']' || c === '}') {
      --depth;
    }
  }
  return deepest;
}
function prismCanTake(body) {
  const text = body.toString('utf8');
  try { JSON.parse(text); } catch { return false; }
  return nestingDepth(text) <= prismDepthMax;
}
const recorder = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (body.length && !prismCanTake(body)) {
    ++notJudged;
    const named = Number(req.headers['x-ecom-upstream-port']);
    return forward(req, res, named > 0 ? named : defaultUpstream, body);
  }
  const id = String(++nextExchange);
  originalBodies.set(id, body);
  const headers = { ...req.headers, 'x-ecom-exchange': id };
  const out = http.request({ host: '127.0.0.1', port: prismPort, method: req.method,
                             path: req.url, headers, agent: prismAgent }, (answer) => {
    originalBodies.delete(id);
    let violations = [];
    const raw = answer.headers['sl-violations'];
    if (raw) {
      try { violations = JSON.parse(raw); } catch { violations = [{ location: ['?'], message: raw }]; }
    }
    exchanges.push({ source, method: req.method, path: req.url.split('?')[0],
                     status: answer.statusCode, violations });
    const kept = [];
    for (let i = 0; i < answer.rawHeaders.length; i += 2) {
      const name = answer.rawHeaders[i].toLowerCase();
      if (name === 'sl-violations' || name.startsWith('access-control-')) continue;
      kept.push(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
    }
    res.writeHead(answer.statusCode, kept);
    answer.pipe(res);
  });
  out.on('error', (e) => { res.writeHead(502); res.end(`recorder: ${e.message}`); });
  out.end(body);
});

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

async function startPrism(upstreamPort) {
  prismPort = await freePort();
  const child = spawn(path.join(webDir, 'node_modules/.bin/prism'),
                      ['proxy', openapiPath, `http://127.0.0.1:${upstreamPort}`, '--port',
                       String(prismPort), '--host', '127.0.0.1', '--cors', 'false', '--errors',
                       'false', '--verboseLevel', 'warn'],
                      { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (!prismStopping) {
      console.error(`[contract] FAIL: prism exited (${code ?? signal}) mid-run: ${stderr.slice(-2000)}`);
      process.exit(1);
    }
  });
  for (let i = 0; i < 600; ++i) {
    const up = await new Promise((resolve) => {
      const r = http.get({ host: '127.0.0.1', port: prismPort, path: '/healthz' },
                         (a) => { a.resume(); resolve(true); });
      r.on('error', () => resolve(false));
    });
    if (up) return;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`prism did not start: ${stderr}`);
}

async function startServer(dataDir) {
  const child = spawn(path.join(binDir, 'ecomd'),
                      ['--port', '0', '--data-dir', dataDir, '--admin-token', adminToken,
                       '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      const found = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (found) resolve({ child, port: Number(found[1]) });
    });
    child.on('exit', (code) => reject(new Error(`ecomd exited with ${code}`)));
  });
}

function judge() {
  const failures = [];
  const byOperation = new Map();
  let refused = 0;
  for (const x of exchanges) {
    const key = `${x.source} ${x.method} ${x.path.replace(/\/\d+/g, '/{n}')}`;
    byOperation.set(key, (byOperation.get(key) || 0) + 1);
    const responseSide = x.violations.filter((v) => v.location && v.location[0] === 'response');
    const requestSide = x.violations.filter((v) => !v.location || v.location[0] !== 'response');
    for (const v of responseSide) {
      failures.push(`${x.source} ${x.method} ${x.path} -> ${x.status}: response ` +
                    `${(v.location || []).join('.')}: ${v.message}`);
    }
    if (requestSide.length && x.status < 400) {
      failures.push(`${x.source} ${x.method} ${x.path} -> ${x.status} accepted a request the ` +
                    `document forbids: ${requestSide.map((v) => v.message).join('; ')}`);
    } else if (requestSide.length) {
      ++refused;
    }
  }
  return { failures, byOperation, refused };
}

async function main() {
  routerPort = await listen(router);
  await startPrism(routerPort);
  const recorderPort = await listen(recorder);
  log(`prism proxy on ${prismPort}, recorder on ${recorderPort}, router on ${routerPort}`);

  // 1. The e2e tests, through Prism.
  const args = ['--test-dir', buildDir, '-L', '^e2e$', '-E', excluded, '-j2',
                '--output-on-failure', '--timeout', '300'];
  if (process.env.ECOM_CONTRACT_FILTER) args.push('-R', process.env.ECOM_CONTRACT_FILTER);
  log(`ctest ${args.join(' ')}`);
  const e2e = await run(ctest, args, {
    env: { ...process.env, ECOM_E2E_CONTRACT_PROXY_PORT: String(recorderPort) },
    timeoutMs: e2eTimeoutMs,
  });
  console.log(e2e.out.split('\n').filter((l) => !/^\s*\d+\/\d+ Test +#\d+: .* Passed/.test(l))
                .join('\n').slice(-20000));
  const e2eCount = exchanges.length;
  log(`e2e tests: exit ${e2e.code}, ${e2eCount} exchanges through prism`);

  // 2. ecom-load mixed against a fresh server, through Prism.
  source = 'load';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecomd-contract-'));
  const server = await startServer(dataDir);
  defaultUpstream = server.port;
  const load = await run(path.join(binDir, 'ecom-load'),
                         ['mixed', '--url', `http://127.0.0.1:${recorderPort}`, '--admin-token',
                          adminToken, '--users', '200', '--connections', '16', '--duration',
                          String(loadSeconds), '--no-progress'],
                         { timeoutMs: 300_000 });
  server.child.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
  const loadCount = exchanges.length - e2eCount;
  log(`ecom-load mixed: exit ${load.code}, ${loadCount} exchanges through prism`);
  if (load.code !== 0) console.log(load.out.slice(-4000));

  prismStopping = true;
  const { failures, byOperation, refused } = judge();
  log(`${exchanges.length} exchanges over ${byOperation.size} (source, method, path) shapes; ` +
      `${refused} requests broke the document and were refused with a 4xx (bad-input tests); ` +
      `${notJudged} bodies were not JSON and went around prism`);
  let ok = true;
  if (e2e.code !== 0) { ok = false; log('FAIL: e2e tests failed through prism (output above)'); }
  if (load.code !== 0) { ok = false; log('FAIL: ecom-load mixed failed through prism'); }
  if (e2eCount < 1000 || loadCount < 1000) {
    ok = false;
    log(`FAIL: too little traffic to judge (${e2eCount} e2e, ${loadCount} load exchanges)`);
  }
  if (failures.length) {
    ok = false;
    const distinct = [...new Set(failures)];
    log(`FAIL: ${failures.length} violations (${distinct.length} distinct):`);
    for (const f of distinct.slice(0, 60)) console.log(`  ${f}`);
  }
  log(ok ? 'PASS: no request or response violation' : 'FAIL');
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(`[contract] FAIL: ${e.stack || e}`); process.exit(1); });
