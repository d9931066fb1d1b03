// The edge REGISTERs itself with a trunk that wants it (`--trunk-register`), with real peers on
// loopback: sipp as the registrar (sipp/registrar-challenge.xml) challenges every REGISTER with 401,
// checks the credentials with its verifyauth, and grants 4 s, so the edge must refresh within the
// test; /metrics and /status (on --admin-listen) show the registration up; stopping the edge (SIGTERM: drain) removes it with
// Expires: 0. A wrong password gets sipp's 403: counted, the registration stays down.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startSipEdge, KIND } = require('./lib/sip_edge');
const { startSipp } = require('./lib/sipp');
const { freePort } = require('./lib/edge');
const { withContext, tail } = require('./lib/report');

const SECRET = 'edge-test-secret';
const TRUNK_PASSWORD = 'trunk-test-password'; // as in the scenario's verifyauth
const CASE_MS = 30000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A counter or gauge (the sum over shards) from the admin listener's /metrics.
async function metric(edge, name) {
  const text = await (await fetch(`${edge.admin}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

async function withRegistrar(password, body, transport = 'udp') {
  const sipp = await startSipp('registrar-challenge', { timeoutSeconds: 25, transport });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-trunk-register-'));
  const pwFile = path.join(dir, 'trunk-password');
  fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  let edge;
  try {
    const adminPort = await freePort();
    const admin = `http://127.0.0.1:${adminPort}`;
    edge = await startSipEdge({ trunkPort: sipp.port, secrets: [SECRET], healthz: admin, trunkTransport: transport,
      extraArgs: ['--trunk-user', 'acme', '--trunk-password-file', pwFile, '--trunk-register',
        '--admin-listen', `127.0.0.1:${adminPort}`] });
    edge.admin = admin;
    await body({ sipp, edge });
  } catch (e) {
    const parts = [sipp.describe()];
    if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
    throw withContext(e, parts);
  } finally {
    if (edge) await edge.stop();
    await sipp.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Waits until sipp has received `n` REGISTERs (or the deadline); returns them.
async function registers(sipp, n, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = sipp.requests('REGISTER');
    if (r.length >= n || Date.now() > end) return r;
    await sleep(50);
  }
}

describe('the edge registers with its trunk', { timeout: 90000, skip: KIND !== 'webtrunk' }, () => {
  it('challenged REGISTER answered, 200 with Expires: 4, refreshed before expiry, up in /metrics, removed on drain', { timeout: CASE_MS }, async () => {
    await withRegistrar(TRUNK_PASSWORD, async ({ sipp, edge }) => {
      // The first registration (2 REGISTERs: challenged, with credentials), then a refresh (2 more)
      // about 2 s later: half the 4 s granted.
      const regs = await registers(sipp, 4, 8000);
      assert.ok(regs.length >= 4, `4 REGISTERs (a refresh) within 8 s, got ${regs.length}`);
      const [first, second, third, fourth] = regs;
      assert.equal(first.ruri, `sip:127.0.0.1:${sipp.port}`);
      assert.match(first.get('to'), /^<sip:acme@127\.0\.0\.1>$/);
      assert.match(first.get('contact'), new RegExp(`^<sip:acme@127\\.0\\.0\\.1:${edge.sipPort}>$`), 'Contact: the edge\'s trunk-side address');
      assert.equal(first.get('expires'), '600');
      assert.equal(first.get('authorization'), undefined);
      assert.ok(second.get('authorization'), 'the second carries credentials');
      for (const r of regs) assert.equal(r.get('call-id'), first.get('call-id'), 'one Call-ID for the registration');
      for (let i = 1; i < regs.length; ++i) assert.ok(regs[i].cseq().seq > regs[i - 1].cseq().seq, 'CSeq counts up');
      assert.ok(fourth.get('authorization') && !third.get('authorization'), 'the refresh, challenged again');
      const ok = sipp.sent().filter((m) => m.status === 200 && m.cseq().method === 'REGISTER');
      assert.ok(ok.length >= 2, 'sipp\'s verifyauth passed twice: 200 to the REGISTER and its refresh');
      assert.equal(sipp.sent().filter((m) => m.status === 403).length, 0, 'no credentials refused');
      const t1 = Date.parse(`1970-01-01T${first.time.split(' ')[1]}Z`);
      const t3 = Date.parse(`1970-01-01T${third.time.split(' ')[1]}Z`);
      assert.ok(Number.isFinite(t1) && Number.isFinite(t3), `sipp's trace times: ${first.time}, ${third.time}`);
      assert.ok(t3 - t1 >= 1500 && t3 - t1 <= 3500, `refreshed ~2 s after the first (half of 4 s): ${t3 - t1} ms`);

      assert.equal(await metric(edge, 'webtrunk_trunk_registrations_up'), 1, 'up in /metrics');
      const status = await (await fetch(`${edge.admin}/status`)).json();
      assert.equal(status.trunk_registrations.length, 1, JSON.stringify(status));
      const [reg] = status.trunk_registrations;
      assert.equal(reg.trunk, `udp:127.0.0.1:${sipp.port}`);
      assert.equal(reg.user, 'acme');
      assert.equal(reg.state, 'registered');
      assert.ok(reg.expires_in_s >= 0 && reg.expires_in_s <= 4, JSON.stringify(reg));
      assert.ok((await metric(edge, 'webtrunk_trunk_register_refreshes_total')) >= 1, 'refreshes counted');
      assert.ok(!edge.log().includes(TRUNK_PASSWORD), 'the password is never logged');

      // Drain: the registration is removed before the edge exits.
      const before = sipp.requests('REGISTER').length;
      const exit = await edge.stop();
      assert.equal(exit.code, 0, `edge exit ${JSON.stringify(exit)}`);
      const after = sipp.requests('REGISTER').slice(before);
      const gone = after.filter((r) => r.get('expires') === '0');
      assert.ok(gone.length >= 1, `an un-REGISTER (Expires: 0) on drain: ${after.map((r) => r.get('expires')).join(',')}`);
      assert.ok(gone.some((r) => r.get('authorization')), 'answered sipp\'s challenge');
      const last = sipp.sent().filter((m) => m.cseq().method === 'REGISTER').pop();
      assert.equal(last.status, 200, 'sipp took the un-REGISTER');
      assert.match(edge.log(), /trunk\.unregistered/);
    });
  });

  it('over TCP: the REGISTERs share the edge\'s connection, the Contact says transport=tcp, the refresh comes', { timeout: CASE_MS }, async () => {
    await withRegistrar(TRUNK_PASSWORD, async ({ sipp, edge }) => {
      const regs = await registers(sipp, 4, 8000);
      assert.ok(regs.length >= 4, `4 REGISTERs (a refresh) within 8 s, got ${regs.length}`);
      assert.match(regs[0].get('via'), /^SIP\/2\.0\/TCP /);
      assert.match(regs[0].get('contact'), new RegExp(`^<sip:acme@127\\.0\\.0\\.1:${edge.sipPort};transport=tcp>$`));
      assert.ok(sipp.sent().filter((m) => m.status === 200 && m.cseq().method === 'REGISTER').length >= 2);
      assert.equal(await metric(edge, 'webtrunk_trunk_registrations_up'), 1);
      assert.equal(await metric(edge, 'webtrunk_trunk_tcp_connections'), 1, 'one connection for all of them');
    }, 'tcp');
  });

  it('a wrong password: sipp answers 403, counted, the registration stays down', { timeout: CASE_MS }, async () => {
    await withRegistrar('not-the-password', async ({ sipp, edge }) => {
      const end = Date.now() + 5000;
      while (Date.now() < end && !sipp.sent().some((m) => m.status === 403)) await sleep(50);
      assert.ok(sipp.sent().some((m) => m.status === 403), 'sipp refused the credentials');
      await sleep(200);
      assert.equal(await metric(edge, 'webtrunk_trunk_registrations_up'), 0);
      assert.equal(await metric(edge, 'webtrunk_trunk_register_failures_rejected_total'), 1);
      const status = await (await fetch(`${edge.admin}/status`)).json();
      assert.equal(status.trunk_registrations[0].state, 'failed', JSON.stringify(status));
      assert.match(status.trunk_registrations[0].last_error, /^403 /);
      assert.match(edge.log(), /trunk\.register_failed[^\n]*403/);
    });
  });
});
