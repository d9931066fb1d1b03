// Connection limits of `webtrunk auth` and `webtrunk servlet` against the real binary (README
// "Limits of the auth service and the servlet"): one address holding idle connections past its cap
// gets the extra ones closed at accept (counted, a sampled log line), the admitted ones are closed
// at the idle timeout, and a page on another address still gets its token meanwhile. Loopback
// only: 127.0.0.1 is the abuser, 127.0.0.2 a customer's page, 127.0.0.3 reads /metrics. Every loop
// is bounded in count and time; each process is stopped by the PID we started.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { BIN, freePort, sleep } = require('../integration/lib/edge');

const ABUSER = '127.0.0.1';
const GOOD = '127.0.0.2';
const OBSERVER = '127.0.0.3';
const CAP = 20;       // --max-connections-per-address
const IDLE = 40;      // idle connections the abuser opens (twice the cap)
const CUST_SECRET = 'cust-secret-' + crypto.randomBytes(12).toString('hex');

function request(base, method, urlPath, { body, localAddress = GOOD, timeoutMs = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = data === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) };
    const req = http.request(base + urlPath, { method, headers, localAddress, timeout: timeoutMs, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

async function metric(base, name) {
  const r = await request(base, 'GET', '/metrics', { localAddress: OBSERVER });
  const m = r.body.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

// Starts `webtrunk <args>` on a free port; resolves once /healthz answers (asked from OBSERVER).
async function start(args, t) {
  const port = await freePort();
  const child = spawn(BIN, [...args, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const k = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(k);
    }
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${args[0]} exited early (${child.exitCode}): ${log}`);
    try {
      if ((await request(base, 'GET', '/healthz', { localAddress: OBSERVER, timeoutMs: 500 })).status === 200) break;
    } catch (_) { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${args[0]} did not come up: ${log}`);
    await sleep(50);
  }
  return { base, port, log: () => log };
}

// Opens `n` TCP connections from `localAddress` that send nothing. Resolves with their state:
// how many the server closed, and a way to wait for more closes.
async function idleConnections(port, n, localAddress) {
  const socks = [];
  let closed = 0;
  for (let i = 0; i < n; i++) {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.on('error', () => {});
    s.on('close', () => { closed++; });
    await new Promise((resolve) => { s.once('connect', resolve); s.once('close', resolve); });
    socks.push(s);
  }
  return {
    closed: () => closed,
    async until(count, ms) {
      const deadline = Date.now() + ms;
      while (closed < count && Date.now() < deadline) await sleep(50);
      return closed;
    },
    destroy() { for (const s of socks) s.destroy(); },
  };
}

function files(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-httplimits-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secretFile = path.join(dir, 'edge-secrets');
  fs.writeFileSync(secretFile, `e1:edge-secret-${crypto.randomBytes(12).toString('hex')}\n`, { mode: 0o600 });
  const custFile = path.join(dir, 'customer-secret');
  fs.writeFileSync(custFile, `${CUST_SECRET}\n`, { mode: 0o600 });
  return { dir, secretFile, custFile, db: path.join(dir, 'accounts.db') };
}

function mint(username) {
  const expires = Math.floor(Date.now() / 1000) + 300;
  const key = crypto.createHmac('sha256', CUST_SECRET).update(`${expires}:${username}`).digest('base64');
  return { account: 'shop', username, expires, key };
}

const LIMITS = ['--max-connections-per-address', String(CAP), '--idle-timeout', '2', '--log-level', 'info'];

test('auth: idle connections past the per-address cap are closed at accept; a page elsewhere still exchanges its token', async (t) => {
  const f = files(t);
  const admin = 'admin-' + crypto.randomBytes(8).toString('hex');
  const auth = await start(['auth', '--db', f.db, '--edge-secret-file', f.secretFile, '--admin-token', admin, ...LIMITS], t);
  const put = await new Promise((resolve, reject) => {
    const body = JSON.stringify({ secrets: [{ kid: 'k', secret: CUST_SECRET }], numbers: ['*'] });
    const req = http.request(`${auth.base}/v1/accounts/shop`, {
      method: 'PUT', localAddress: GOOD, agent: false,
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json', 'Content-Length': body.length },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(put, 200);

  const refused0 = await metric(auth.base, 'webtrunk_http_server_connections_refused_total') ?? 0;
  const idle = await idleConnections(auth.port, IDLE, ABUSER);
  t.after(() => idle.destroy());
  // Everything past the cap is closed right after accept.
  assert.ok(await idle.until(IDLE - CAP, 3000) >= IDLE - CAP, `only ${idle.closed()} of ${IDLE - CAP} closed at accept`);
  assert.ok(idle.closed() < IDLE, 'the connections under the cap are held until the idle timeout');
  const refused = await metric(auth.base, 'webtrunk_http_server_connections_refused_total');
  assert.equal(refused - refused0, IDLE - CAP, 'every refusal is counted');

  // While they are held, a page on another address exchanges a customer token.
  const r = await request(auth.base, 'POST', '/v1/token', { body: mint('alice') });
  assert.equal(r.status, 200, r.body);
  assert.ok(JSON.parse(r.body).password, 'an edge token came back');

  // The admitted idle ones are closed at --idle-timeout (2 s).
  assert.equal(await idle.until(IDLE, 5000), IDLE, 'idle connections closed at the idle timeout');
  // Refusals are logged once per source per interval, not once each.
  const lines = auth.log().split('\n').filter((l) => l.includes('http.refused'));
  assert.ok(lines.length >= 1 && lines.length <= 2, `${lines.length} refusal lines for ${IDLE - CAP} refusals`);
});

test('servlet: idle connections past the per-address cap are closed at accept; a page elsewhere still gets a token', async (t) => {
  const f = files(t);
  const servlet = await start(['servlet', '--account', 'shop', '--secret-file', f.custFile, ...LIMITS], t);
  const idle = await idleConnections(servlet.port, IDLE, ABUSER);
  t.after(() => idle.destroy());
  assert.ok(await idle.until(IDLE - CAP, 3000) >= IDLE - CAP, `only ${idle.closed()} of ${IDLE - CAP} closed at accept`);
  assert.ok(idle.closed() < IDLE);
  // The servlet serves no /metrics (it runs beside a customer's site); its refusals are in its log.
  assert.ok(servlet.log().includes('http.refused'), 'the refusal is logged');
  const r = await request(servlet.base, 'GET', '/token');
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).account, 'shop');
  assert.equal(await idle.until(IDLE, 5000), IDLE, 'idle connections closed at the idle timeout');
});

test('auth and servlet refuse a bad limit flag with exit 2 naming it', async (t) => {
  const f = files(t);
  for (const args of [['auth', '--max-connections-per-address', '0'],
    ['servlet', '--account', 'shop', '--secret-file', f.custFile, '--idle-timeout', 'soon']]) {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 2, `${args.join(' ')}: ${err}`);
    assert.match(err, new RegExp(args[args.length - 2]));
  }
});
