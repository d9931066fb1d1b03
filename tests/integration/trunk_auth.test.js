// Outbound digest authentication toward the trunk, with real peers on loopback: JsSIP in headless
// Chromium calls through `webtrunk edge --trunk-user acme --trunk-password-file F` to sipp, which
// challenges the first INVITE with 407 (its Proxy-Authorization is checked here from sipp's trace)
// and the BYE with 401 (checked by sipp's verifyauth), sipp/challenge-407-then-answer.xml; or
// challenges every INVITE (sipp/challenge-407-always.xml). The browser never sees a trunk challenge.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startSipEdge, ephemeralToken, KIND } = require('./lib/sip_edge');
const { startSipp } = require('./lib/sipp');
const { openCaller, useSharedBrowser } = require('./lib/browser');
const { withContext, tail } = require('./lib/report');

const SECRET = 'edge-test-secret';
const CALLER = 'sip:alice@edge.test';
const TARGET = 'sip:15551230000@edge.test';
const TRUNK_PASSWORD = 'trunk-test-password'; // as in the scenario's verifyauth
const CASE_MS = 20000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const shared = useSharedBrowser();

// RFC 7616 §3.4.1 with qop=auth, MD5: what the trunk computes from the Proxy-Authorization.
function digestOk(header, method, password) {
  const p = {};
  for (const m of header.replace(/^Digest\s+/i, '').matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]+))/g)) p[m[1]] = m[2] ?? m[3];
  const md5 = (s) => crypto.createHash('md5').update(s).digest('hex');
  const ha1 = md5(`${p.username}:${p.realm}:${password}`);
  const ha2 = md5(`${method}:${p.uri}`);
  return { params: p, ok: p.response === md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) };
}

async function withAuthCall(scenario, password, body) {
  const sipp = await startSipp(scenario, { timeoutSeconds: 20 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-trunk-auth-'));
  const pwFile = path.join(dir, 'trunk-password');
  fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  let edge, caller;
  try {
    edge = await startSipEdge({ trunkPort: sipp.port, secrets: [SECRET],
      extraArgs: ['--trunk-user', 'acme', '--trunk-password-file', pwFile] });
    caller = await openCaller(shared.browser, shared.pageServer.url);
    const cred = ephemeralToken({ user: 'alice', secret: SECRET });
    await caller.start({ wsUrl: edge.url, uri: CALLER, authUser: cred.username, password: cred.password, register: false });
    await caller.call(TARGET);
    await body({ sipp, edge, caller });
  } catch (e) {
    const parts = [];
    if (caller) parts.push(await caller.describe());
    parts.push(sipp.describe());
    if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
    throw withContext(e, parts);
  } finally {
    if (caller) await caller.close();
    if (edge) await edge.stop();
    await sipp.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('digest authentication toward the trunk', { timeout: 60000, skip: KIND !== 'webtrunk' }, () => {
  it('407 on the INVITE and 401 on the BYE: the edge answers both with its credentials, the call connects, the password is never sent or logged', { timeout: CASE_MS }, async () => {
    await withAuthCall('challenge-407-then-answer', TRUNK_PASSWORD, async ({ sipp, edge, caller }) => {
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      const invites = sipp.requests('INVITE');
      assert.equal(invites.length, 2, 'the challenged INVITE and the one with credentials');
      assert.equal(invites[0].get('proxy-authorization'), undefined);
      assert.equal(invites[1].get('call-id'), invites[0].get('call-id'), 'same Call-ID (RFC 3261 §22.2)');
      assert.equal(invites[1].cseq().seq, invites[0].cseq().seq + 1, 'CSeq + 1');
      const { params, ok } = digestOk(invites[1].get('proxy-authorization') || '', 'INVITE', TRUNK_PASSWORD);
      assert.ok(ok, `Proxy-Authorization verifies: ${JSON.stringify(params)}`);
      assert.equal(params.username, 'acme');
      assert.equal(params.qop, 'auth');
      assert.equal(params.nc, '00000001');
      const sip = await caller.sip();
      assert.ok(!sip.some((s) => s.dir === 'in' && s.msg.status === 407 && /trunk\.test/.test(s.msg.raw)),
        'the trunk\'s challenge never reaches the browser');
      await sleep(300);
      await caller.hangup();
      assert.ok(await sipp.waitFor((m) => m.method === 'BYE', 3000), 'the trunk got BYE');
      const done = await sipp.waitExit(5000);
      assert.deepEqual(done, { code: 0, signal: null }, 'sipp ran its scenario to the end');
      const byes = sipp.requests('BYE');
      assert.equal(byes.length, 2, 'the challenged BYE and the one with credentials');
      assert.match(byes[1].get('authorization') || '', /^Digest /);
      assert.ok(sipp.sent().some((m) => m.status === 200 && m.cseq().method === 'BYE'), 'sipp\'s verifyauth passed: 200 to the BYE');
      assert.ok(!edge.log().includes(TRUNK_PASSWORD), 'the password is not in the edge log');
      for (const m of sipp.received()) assert.ok(!m.raw.includes(TRUNK_PASSWORD), 'the password is never sent');
    });
  });

  it('credentials refused: the trunk challenges again, the browser gets 403 "trunk refused our credentials"', { timeout: CASE_MS }, async () => {
    await withAuthCall('challenge-407-always', TRUNK_PASSWORD, async ({ sipp, caller }) => {
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'failed', JSON.stringify(outcome));
      assert.equal(outcome.status, 403);
      assert.match(outcome.reason, /trunk refused our credentials/);
      await sleep(500);
      assert.equal(sipp.requests('INVITE').length, 2, 'one answer per challenge: no third INVITE');
    });
  });
});
