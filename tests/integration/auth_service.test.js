// `webtrunk auth`, the hosted auth service, as a customer's page and a carrier's admin see it: the
// real binary on loopback. Customer tokens are minted with node's crypto exactly as a customer
// servlet would (SHA-256, and SHA-1 in Voxbone's shape); the answers are checked field by field;
// the admin API and the CLI share one SQLite file; kill -9 during admin writes loses no
// acknowledged account; and the edge token it returns registers at a real `webtrunk edge` started
// with the same edge secret file. Every process is stopped by the PID we started.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { startEdge } = require('./lib/edge');
const { parseSip } = require('./lib/sipmsg');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.WEBTRUNK_BIN || path.join(ROOT, 'build', 'webtrunk');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const live = new Set();
process.on('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch (_) { /* gone */ } } });

const EDGE_SECRET = 'edge-secret-' + crypto.randomBytes(12).toString('hex');
const ADMIN = 'admin-' + crypto.randomBytes(12).toString('hex');
const CUST_SECRET = 'cust-secret-' + crypto.randomBytes(12).toString('hex');
const OLD_SECRET = 'cust-old-' + crypto.randomBytes(12).toString('hex');
const ORIGIN = 'https://shop.example';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = require('node:net').createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// One HTTP request; resolves { status, headers, body, json }.
function request(base, method, urlPath, { headers = {}, body, timeoutMs = 3000, chunked = false } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    const h = { ...headers };
    if (data !== undefined) {
      h['Content-Type'] = h['Content-Type'] || 'application/json';
      // As fetch() sends it; without it node's http client sends the body chunked.
      if (!chunked) h['Content-Length'] = Buffer.byteLength(data);
    }
    const req = http.request(base + urlPath, { method, headers: h, timeout: timeoutMs, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch (_) { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// Starts `webtrunk auth`; resolves once /healthz answers.
async function startAuth({ db, secretFile, extra = [] }) {
  const port = await freePort();
  const child = spawn(BIN, ['auth', '--listen', `127.0.0.1:${port}`, '--db', db, '--edge-secret-file', secretFile,
    '--admin-token', ADMIN, '--edge-uri', 'ws://127.0.0.1:1', '--log-level', 'debug', ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); }));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`auth exited early (${child.exitCode}): ${log}`);
    try {
      if ((await request(base, 'GET', '/healthz', { timeoutMs: 500 })).status === 200) break;
    } catch (_) { /* not up yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`auth did not come up: ${log}`); }
    await sleep(50);
  }
  return {
    child, base, log: () => log, exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

// What a customer servlet does (auth.md §1.4): key = base64(HMAC(secret, "<expires>:<username>")).
function mint({ account, username, secret, ttl = 300, algo = 'sha256', now = Math.floor(Date.now() / 1000) }) {
  const expires = now + ttl;
  const key = crypto.createHmac(algo, secret).update(`${expires}:${username}`).digest('base64');
  return account === undefined ? { key, expires, username } : { account, username, expires, key };
}

const admin = (auth, method, p, body) => request(auth.base, method, p, { headers: { Authorization: `Bearer ${ADMIN}` }, body });
const exchange = (auth, token, origin = ORIGIN, urlPath = '/v1/token') =>
  request(auth.base, 'POST', urlPath, { headers: origin ? { Origin: origin } : {}, body: token });

function runCli(args) {
  return new Promise((resolve) => {
    execFile(BIN, ['auth', 'account', ...args], { timeout: 10000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

const SHOP = {
  secrets: [{ kid: 'k2', secret: CUST_SECRET }, { kid: 'k1', secret: OLD_SECRET }],
  origins: [ORIGIN],
  numbers: ['+15551230000', '1555124*'],
  limits: { max_call_seconds: 600, tokens_per_minute: 600 },
};

test('auth service: exchange, errors, CORS, admin API and CLI on one account file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-auth-'));
  const secretFile = path.join(dir, 'edge-secrets');
  fs.writeFileSync(secretFile, `e1:${EDGE_SECRET}\n`, { mode: 0o600 });
  const db = path.join(dir, 'accounts.db');
  const auth = await startAuth({ db, secretFile });
  t.after(async () => { await auth.stop(); fs.rmSync(dir, { recursive: true, force: true }); });
  const passwords = [];
  const keys = [];

  await t.test('admin PUT, GET (kids only), list', async () => {
    assert.equal((await request(auth.base, 'PUT', '/v1/accounts/shop', { body: SHOP })).status, 401);
    const put = await admin(auth, 'PUT', '/v1/accounts/shop', SHOP);
    assert.equal(put.status, 200, put.body);
    assert.equal(put.json.created, true);
    const get = await admin(auth, 'GET', '/v1/accounts/shop');
    assert.equal(get.status, 200);
    assert.ok(!get.body.includes(CUST_SECRET) && !get.body.includes(OLD_SECRET), get.body);
    assert.deepEqual(get.json.secrets.map((s) => s.kid), ['k2', 'k1']);
    assert.deepEqual(get.json.numbers, SHOP.numbers);
    assert.deepEqual((await admin(auth, 'GET', '/v1/accounts')).json.accounts, ['shop']);
    // A client that sends the body chunked (node's default) is understood too.
    const again = await request(auth.base, 'PUT', '/v1/accounts/shop', { headers: { Authorization: `Bearer ${ADMIN}` }, body: SHOP, chunked: true });
    assert.equal(again.status, 200, again.body);
    assert.equal(again.json.created, false);
    const bad = await admin(auth, 'PUT', '/v1/accounts/shop', { ...SHOP, numbers: ['call-me'] });
    assert.equal(bad.status, 400);
    assert.match(bad.json.reason, /^numbers\[0\]/);
  });

  await t.test('a customer token becomes an edge token; CORS for the account origin only', async () => {
    const tok = mint({ account: 'shop', username: 'alice', secret: CUST_SECRET });
    keys.push(tok.key);
    const r = await exchange(auth, tok);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
    assert.equal(r.headers.vary, 'Origin');
    const now = Math.floor(Date.now() / 1000);
    assert.match(r.json.username, /^\d+:kid=e1~acct=shop~num=15551230000\.1555124\*~dur=600~calls=100~u=alice$/);
    assert.ok(Math.abs(r.json.expires_at - (now + 3600)) <= 2);
    assert.equal(r.json.ttl, 3600);
    assert.deepEqual(r.json.uris, ['ws://127.0.0.1:1']);
    assert.deepEqual(r.json.ice_servers, []);
    // The edge derives the password from the username with the edge secret (Kamailio auth_ephemeral).
    assert.equal(r.json.password, crypto.createHmac('sha256', EDGE_SECRET).update(r.json.username).digest('base64'));
    passwords.push(r.json.password);

    const replay = await exchange(auth, tok);
    assert.equal(replay.status, 403);
    assert.equal(replay.json.error, 'token_replayed');
    assert.match(replay.json.reason, /customer token already used/);

    // Voxbone's servlet shape, SHA-1, with the old secret (rotation), account in the query.
    const vox = mint({ username: 'web', secret: OLD_SECRET, algo: 'sha1' });
    const v = await exchange(auth, vox, ORIGIN, '/v1/token?account=shop');
    assert.equal(v.status, 200, v.body);
    assert.match(v.json.username, /~acct=shop~.*~u=web$/);
    passwords.push(v.json.password);

    const pre = await request(auth.base, 'OPTIONS', '/v1/token?account=shop', {
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], ORIGIN);
    assert.match(pre.headers['access-control-allow-methods'], /POST/);
    const preBad = await request(auth.base, 'OPTIONS', '/v1/token', {
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(preBad.status, 403);
    assert.equal(preBad.headers['access-control-allow-origin'], undefined);
  });

  await t.test('each refusal has its status and a reason a person can read', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      ['wrong secret', mint({ account: 'shop', username: 'a', secret: 'not-the-secret-000000' }), ORIGIN, 401, 'wrong_secret', /wrong customer secret/],
      ['expired', mint({ account: 'shop', username: 'a', secret: CUST_SECRET, now: now - 1000 }), ORIGIN, 401, 'token_expired', /customer token expired/],
      ['origin', mint({ account: 'shop', username: 'a', secret: CUST_SECRET }), 'https://evil.example', 403, 'origin_not_allowed', /origin not allowed/],
      ['unknown account', mint({ account: 'nobody', username: 'a', secret: CUST_SECRET }), ORIGIN, 404, 'unknown_account', /no such account/],
      ['malformed', { account: 'shop', username: 'a' }, ORIGIN, 400, 'bad_request', /key/],
    ];
    for (const [what, tok, origin, status, code, reason] of cases) {
      const r = await exchange(auth, tok, origin);
      assert.equal(r.status, status, `${what}: ${r.body}`);
      assert.equal(r.json.error, code, what);
      assert.match(r.json.reason, reason, what);
      if (code === 'origin_not_allowed') assert.equal(r.headers['access-control-allow-origin'], undefined);
      if (code === 'wrong_secret') assert.equal(r.headers['access-control-allow-origin'], ORIGIN, 'the page can read why');
    }
  });

  await t.test('the CLI writes the same file and the running service sees it', async () => {
    const doc = JSON.stringify({ secrets: [{ kid: 'c1', secret: 'cli-secret-0123456789' }], numbers: ['*'], origins: ['*'] });
    const put = await runCli(['put', 'cli-acct', '--json', doc, '--db', db]);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(JSON.parse(put.stdout).created, true);
    assert.ok(!put.stdout.includes('cli-secret-0123456789'));
    const list = await runCli(['list', '--db', db]);
    assert.deepEqual(JSON.parse(list.stdout).accounts, ['cli-acct', 'shop']);
    const get = await runCli(['get', 'cli-acct', '--db', db]);
    assert.deepEqual(JSON.parse(get.stdout).secrets, [{ fingerprint: JSON.parse(get.stdout).secrets[0].fingerprint, kid: 'c1' }]);
    await sleep(150);  // the service looks at the file at most every 100 ms on the token path
    const r = await exchange(auth, mint({ account: 'cli-acct', username: 'x', secret: 'cli-secret-0123456789' }), 'https://any.example');
    assert.equal(r.status, 200, r.body);
    const bad = await runCli(['put', 'cli-acct', '--json', '{"secrets":[]}', '--db', db]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /secrets: an array of 1 to 16/);
    assert.equal((await runCli(['delete', 'cli-acct', '--db', db])).code, 0);
    assert.equal((await runCli(['get', 'cli-acct', '--db', db])).code, 1);
    await sleep(150);
    const gone = await exchange(auth, mint({ account: 'cli-acct', username: 'y', secret: 'cli-secret-0123456789' }), null);
    assert.equal(gone.status, 404);
  });

  await t.test('/metrics counts outcomes; the log holds no secret', async () => {
    const m = await request(auth.base, 'GET', '/metrics');
    assert.match(m.body, /^webtrunk_auth_tokens_issued_total [1-9]\d*$/m);
    assert.match(m.body, /^webtrunk_auth_exchange_wrong_secret_total 1$/m);
    assert.match(m.body, /^webtrunk_auth_exchange_replayed_total 1$/m);
    const log = auth.log();
    assert.match(log, /"event":"auth.issued"/);
    for (const s of [EDGE_SECRET, ADMIN, CUST_SECRET, OLD_SECRET, 'cli-secret-0123456789', ...passwords, ...keys]) {
      assert.ok(!log.includes(s), `the log contains a secret (${s.slice(0, 6)}...)`);
    }
  });
});

// A fresh directory with the edge secret file and a database path, removed after the test.
function authFiles(t, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secretFile = path.join(dir, 'edge-secrets');
  fs.writeFileSync(secretFile, `e1:${EDGE_SECRET}\n`, { mode: 0o600 });
  return { secretFile, db: path.join(dir, 'accounts.db') };
}

test('kill -9 during admin writes loses no acknowledged account', async (t) => {
  const { secretFile, db } = authFiles(t, 'webtrunk-auth-kill-');
  const acked = [];
  for (let round = 0; round < 3; round++) {
    const auth = await startAuth({ db, secretFile });
    // Writes back to back on one connection at a time; the kill lands at a random moment.
    const killAt = 150 + Math.floor(Math.random() * 400);
    let stop = false;
    const killer = sleep(killAt).then(() => { stop = true; auth.child.kill('SIGKILL'); });
    let i = 0;
    while (!stop && i < 100000) {
      const id = `r${round}-a${i++}`;
      try {
        const r = await admin(auth, 'PUT', `/v1/accounts/${id}`, { ...SHOP, numbers: [`+1555${String(i).padStart(7, '0')}`] });
        if (r.status === 200) acked.push({ id, number: `+1555${String(i).padStart(7, '0')}` });
      } catch (_) { break; /* killed mid-request: not acknowledged */ }
    }
    await killer;
    const { signal } = await auth.exited;
    assert.equal(signal, 'SIGKILL');
    console.log(`# round ${round}: killed after ${killAt} ms, ${acked.length} writes acknowledged so far`);
  }
  assert.ok(acked.length > 0, 'some writes were acknowledged before the kills');
  const auth = await startAuth({ db, secretFile });
  t.after(() => auth.stop());
  const list = new Set((await admin(auth, 'GET', '/v1/accounts')).json.accounts);
  const missing = acked.filter((a) => !list.has(a.id));
  assert.deepEqual(missing, [], 'every acknowledged account is there after kill -9 and restart');
  // And with its content, not just its id (a sample).
  for (const a of acked.filter((_, k) => k % Math.max(1, Math.floor(acked.length / 20)) === 0)) {
    const g = await admin(auth, 'GET', `/v1/accounts/${a.id}`);
    assert.deepEqual(g.json.numbers, [a.number]);
  }
});

// A raw SIP REGISTER over WebSocket (subprotocol sip), the way JsSIP sends it, with an MD5 digest
// computed here from the username/password the auth service returned.
async function registerAtEdge(edgeUrl, username, password) {
  const ws = new WebSocket(edgeUrl, ['sip']);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const inbox = [];
  let wake = null;
  ws.on('message', (d) => { inbox.push(parseSip(d.toString())); if (wake) wake(); });
  const next = async () => {
    const deadline = Date.now() + 3000;
    while (!inbox.length) {
      if (Date.now() > deadline) throw new Error('no SIP answer within 3 s');
      await new Promise((r) => { wake = r; setTimeout(r, 100); });
    }
    return inbox.shift();
  };
  const callId = crypto.randomBytes(8).toString('hex');
  const send = (cseq, auth) => {
    const lines = [
      'REGISTER sip:edge.invalid SIP/2.0',
      `Via: SIP/2.0/WSS abcdef.invalid;branch=z9hG4bK${crypto.randomBytes(6).toString('hex')}`,
      'Max-Forwards: 69',
      'To: <sip:alice@edge.invalid>',
      `From: <sip:alice@edge.invalid>;tag=${crypto.randomBytes(4).toString('hex')}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      'Contact: <sip:x1y2z3@abcdef.invalid;transport=ws>;+sip.ice;expires=600',
      'Expires: 600',
    ];
    if (auth) lines.push(`Authorization: ${auth}`);
    lines.push('Content-Length: 0', '', '');
    ws.send(lines.join('\r\n'));
  };
  send(1);
  const challenge = await next();
  assert.equal(challenge.status, 401, challenge.raw);
  const wwwAuth = challenge.get('www-authenticate');
  const realm = wwwAuth.match(/realm="([^"]+)"/)[1];
  const nonce = wwwAuth.match(/nonce="([^"]+)"/)[1];
  const md5 = (s) => crypto.createHash('md5').update(s).digest('hex');
  const uri = 'sip:edge.invalid';
  const nc = '00000001';
  const cnonce = crypto.randomBytes(6).toString('hex');
  const ha1 = md5(`${username}:${realm}:${password}`);
  const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
  send(2, `Digest algorithm=MD5, username="${username}", realm="${realm}", nonce="${nonce}", uri="${uri}", ` +
          `response="${response}", qop=auth, cnonce="${cnonce}", nc=${nc}`);
  const answer = await next();
  ws.close();
  return answer;
}

test('the returned edge token registers at an edge started with the same edge secret file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-auth-edge-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secretFile = path.join(dir, 'edge-secrets');
  fs.writeFileSync(secretFile, `e1:${EDGE_SECRET}\n`, { mode: 0o600 });
  const auth = await startAuth({ db: path.join(dir, 'accounts.db'), secretFile });
  t.after(() => auth.stop());
  const edge = await startEdge(['--edge-secret-file', secretFile, '--shards', '1', '--sip-port', '0']);
  t.after(() => edge.stop());
  assert.equal((await admin(auth, 'PUT', '/v1/accounts/shop', SHOP)).status, 200);
  const r = await exchange(auth, mint({ account: 'shop', username: 'alice', secret: CUST_SECRET }));
  assert.equal(r.status, 200, r.body);

  const ok = await registerAtEdge(edge.url, r.json.username, r.json.password);
  assert.equal(ok.status, 200, `REGISTER with the auth service's token: ${ok.status} ${ok.reason}`);
  // A tampered token (the claims changed, the password kept) is refused with a reason.
  const tampered = r.json.username.replace('acct=shop', 'acct=shoq');
  const bad = await registerAtEdge(edge.url, tampered, r.json.password);
  assert.equal(bad.status, 403, `${bad.status} ${bad.reason}`);
  console.log(`# tampered edge token: ${bad.status} ${bad.reason}`);
});

test('a customer token exchanged once stays refused after kill -9 and restart', async (t) => {
  const { secretFile, db } = authFiles(t, 'webtrunk-auth-replay-');
  const first = await startAuth({ db, secretFile });
  assert.equal((await admin(first, 'PUT', '/v1/accounts/shop', SHOP)).status, 200);
  const used = mint({ account: 'shop', username: 'alice', secret: CUST_SECRET });
  assert.equal((await exchange(first, used)).status, 200);
  first.child.kill('SIGKILL');  // no clean shutdown: only what is on disk survives
  assert.equal((await first.exited).signal, 'SIGKILL');

  const second = await startAuth({ db, secretFile });
  t.after(() => second.stop());
  const again = await exchange(second, used);
  assert.equal(again.status, 403, again.body);
  assert.equal(again.json.error, 'token_replayed');
  // A fresh token of the same account is exchanged as usual.
  const fresh = await exchange(second, mint({ account: 'shop', username: 'bob', secret: CUST_SECRET }));
  assert.equal(fresh.status, 200, fresh.body);
});
