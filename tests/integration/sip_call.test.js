// SIP over WebSocket through the edge to a SIP trunk, with real peers on loopback: JsSIP in headless
// Chromium (lib/browser.js, page/index.html) calls through `webtrunk edge` to sipp acting as the trunk
// (lib/sipp.js, sipp/*.xml). Each case starts its own edge and sipp and asserts what a user would see
// (JsSIP events, status codes, causes) and what the trunk received (sipp's message trace).
//
// WEBTRUNK_REFERENCE=kamailio runs the same cases against Kamailio with auth_ephemeral (lib/reference.js)
// instead of the edge, to check the harness; cases a proxy cannot pass (B2BUA isolation, BYE on a
// dropped WebSocket) are skipped there. KEEP_LOGS=1 keeps sipp's and Kamailio's temp directories;
// VERBOSE=1 prints each case's JsSIP events and both SIP traces.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { startSipEdge, ephemeralToken, KIND } = require('./lib/sip_edge');
const { startSipp } = require('./lib/sipp');
const { openCaller, useSharedBrowser } = require('./lib/browser');
const { startTcpRelay } = require('./lib/tcp_relay');
const { viaBranch, viaHost } = require('./lib/sipmsg');
const { withContext, tail } = require('./lib/report');

const SECRET = 'edge-test-secret';
const USER = 'alice';
const CALLER = `sip:${USER}@edge.test`;
const NUMBER = '15551230000';
const TARGET = `sip:${NUMBER}@edge.test`;
const CASE_MS = 20000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const B2BUA = KIND === 'webtrunk';

const token = ({ user = USER, secret = SECRET, ttl = 3600 } = {}) => ephemeralToken({ user, secret, ttl });

const shared = useSharedBrowser();

// One case: sipp with `scenario` as the trunk, the edge in front of it, a fresh JsSIP page. On a failure
// the error gets the browser's events and SIP, sipp's trace and the edge's log; everything is stopped.
async function withCall(scenario, opts, body) {
  const sipp = await startSipp(scenario, { timeoutSeconds: 20 });
  let edge, relay, caller;
  try {
    edge = await startSipEdge({ trunkPort: sipp.port, secrets: opts.secrets || [SECRET] });
    if (opts.relay) relay = await startTcpRelay(edge.port);
    caller = await openCaller(shared.browser, shared.pageServer.url);
    const r = { sipp, edge, relay, caller, wsUrl: relay ? relay.url : edge.url };
    r.start = (extra = {}) => {
      const cred = extra.credentials || token();
      return caller.start({ wsUrl: r.wsUrl, uri: CALLER, authUser: cred.username, password: cred.password,
        register: extra.register !== false });
    };
    await body(r);
    if (process.env.VERBOSE) console.log(`${await caller.describe()}\n${sipp.describe()}`.replace(/^/gm, '# '));
  } catch (e) {
    const parts = [];
    if (caller) parts.push(await caller.describe());
    parts.push(sipp.describe());
    if (edge) {
      const st = edge.child.exitCode !== null || edge.child.signalCode ? ` (exited: ${edge.child.exitCode ?? edge.child.signalCode})` : '';
      parts.push(`${edge.kind} log${st}, last lines:\n${tail(edge.log())}`);
    }
    throw withContext(e, parts);
  } finally {
    if (caller) await caller.close();
    if (relay) await relay.close();
    if (edge) await edge.stop();
    await sipp.stop();
  }
}

// Register (JsSIP's default) and call; resolves with the call's outcome event (confirmed or failed),
// after the 180 when the trunk rings.
async function registerAndCall(r, { expectRinging = true } = {}) {
  await r.start();
  const reg = await r.caller.waitFor(['registered', 'registrationFailed'], 5000);
  // The register case checks registration; a call is placed whatever its outcome.
  if (reg.type !== 'registered') console.log(`# registration: ${JSON.stringify(reg)} (calling anyway)`);
  await r.caller.call(TARGET);
  if (expectRinging) {
    const ring = await r.caller.waitFor(['progress', 'failed'], 8000);
    assert.equal(ring.type, 'progress', `ringing: ${JSON.stringify(ring)}`);
    assert.equal(ring.status, 180);
  }
  return r.caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
}

// The browser's last out-of-dialog INVITE (with credentials) as JsSIP sent it.
async function browserInvite(caller) {
  const out = (await caller.sip()).filter((s) => s.dir === 'out' && s.msg.method === 'INVITE');
  return out.length ? out[out.length - 1].msg : null;
}

// What the trunk got must be the edge's own, not the browser's (issue 3: fresh Call-ID, tags, CSeq,
// Via and Contact).
function assertTrunkLegIsFresh(trunkInvite, browserInv, edge) {
  const browserCallId = browserInv.get('call-id');
  assert.notEqual(trunkInvite.get('call-id'), browserCallId, 'trunk Call-ID differs from the browser\'s');
  assert.ok(!trunkInvite.raw.includes(browserCallId), 'the browser\'s Call-ID appears nowhere in the trunk INVITE');
  const bVia = browserInv.vias()[0];
  const tVias = trunkInvite.vias();
  assert.equal(tVias.length, 1, `one Via (the edge's) on the trunk INVITE: ${tVias.join(' | ')}`);
  assert.notEqual(viaBranch(tVias[0]), viaBranch(bVia), 'fresh Via branch');
  assert.ok(!trunkInvite.raw.includes(viaHost(bVia)), `the browser's Via host ${viaHost(bVia)} is not on the trunk INVITE`);
  // --sip-port P: shard k uses P+k in its Via and Contact (the cases run 2 shards).
  const shardPort = (v) => { const m = (v || '').match(/127\.0\.0\.1:(\d+)/); return m && [edge.sipPort, edge.sipPort + 1].includes(Number(m[1])); };
  assert.match(tVias[0], /^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+/i);
  assert.ok(shardPort(tVias[0]), `Via ${tVias[0]} carries a shard's --sip-port + k (${edge.sipPort}+k)`);
  const contact = trunkInvite.get('contact') || '';
  assert.ok(!/\.invalid/i.test(contact), `trunk Contact is the edge's: ${contact}`);
  assert.ok(shardPort(contact), `Contact ${contact} carries a shard's --sip-port + k (${edge.sipPort}+k)`);
  assert.notEqual(trunkInvite.tag('from'), browserInv.tag('from'), 'fresh From tag');
  assert.match(trunkInvite.ruri, new RegExp(NUMBER), 'the called number reaches the trunk in the Request-URI');
}

describe(`SIP over WebSocket through ${KIND} to a sipp trunk`, { timeout: 170000 }, () => {
  it('register: a valid token is challenged (401) and then registered (200)', { timeout: CASE_MS }, async () => {
    await withCall('no-invite-expected', {}, async ({ caller, sipp, start }) => {
      await start();
      const reg = await caller.waitFor(['registered', 'registrationFailed'], 5000);
      assert.equal(reg.type, 'registered', JSON.stringify(reg));
      assert.equal(reg.status, 200);
      const sip = await caller.sip();
      const answers = sip.filter((s) => s.dir === 'in' && s.msg.cseq().method === 'REGISTER').map((s) => s.msg);
      assert.equal(answers[0].status, 401, 'the first REGISTER is challenged');
      assert.match(answers[0].get('www-authenticate') || '', /^Digest\s.*nonce=/i);
      assert.match(answers[answers.length - 1].get('contact') || '', /sip:/, '200 lists the binding');
      assert.equal(sipp.received().length, 0, 'the trunk saw nothing');
    });
  });

  it('a token signed with the second secret of the secret file registers', { timeout: CASE_MS }, async () => {
    await withCall('no-invite-expected', { secrets: ['next-secret-not-yet-in-use', SECRET] }, async ({ caller, start }) => {
      await start();
      const reg = await caller.waitFor(['registered', 'registrationFailed'], 5000);
      assert.equal(reg.type, 'registered', JSON.stringify(reg));
    });
  });

  it('call answered: JsSIP confirmed, the trunk got INVITE and ACK; browser hangs up: the trunk got BYE and answered 200', { timeout: CASE_MS }, async () => {
    await withCall('answer', {}, async (r) => {
      const { caller, sipp, edge } = r;
      const outcome = await registerAndCall(r);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      const invite = await sipp.waitFor((m) => m.method === 'INVITE', 1000);
      assert.ok(invite, 'the trunk got the INVITE');
      assert.ok(await sipp.waitFor((m) => m.method === 'ACK', 2000), 'the trunk got the ACK');
      assert.match(invite.get('content-type') || '', /application\/sdp/i);

      // Each side gets the edge's own SDP (issue 4): plain RTP/AVP toward the trunk, ICE-lite and
      // DTLS toward the browser; nothing of one side's SDP reaches the other.
      const bInv = await browserInvite(caller);
      const sdp = await caller.sdp();
      if (B2BUA) {
        assert.match(invite.body, /^m=audio \d+ RTP\/AVP /m, 'the trunk got a plain RTP/AVP offer');
        for (const line of [/^a=ice-/m, /^a=fingerprint:/m, /^a=candidate:/m, /^a=extmap:/m, /^a=msid:/m, /^a=ssrc:/m]) {
          assert.doesNotMatch(invite.body, line, `no ${line} toward the trunk`);
        }
        assert.match(sdp.remote, /^a=ice-lite/m, 'the browser got the edge\'s ICE-lite answer');
        assert.match(sdp.remote, /^a=setup:passive/m);
        assert.doesNotMatch(sdp.remote, /^o=trunk /m, 'not the trunk\'s SDP');
        const trunkAnswer = sipp.sent().find((m) => m.status === 200 && m.cseq().method === 'INVITE');
        assert.notEqual(sdp.remote.trim(), trunkAnswer.body.trim());
      }
      if (B2BUA) assertTrunkLegIsFresh(invite, bInv, edge);

      await sleep(1000);
      await caller.hangup();
      const bye = await sipp.waitFor((m) => m.method === 'BYE', 3000);
      assert.ok(bye, 'the trunk got BYE');
      assert.equal(bye.get('call-id'), invite.get('call-id'), 'BYE in the trunk dialog');
      const ended = await caller.waitFor('ended', 3000);
      assert.equal(ended.originator, 'local');
      const done = await sipp.waitExit(5000);
      assert.deepEqual(done, { code: 0, signal: null }, 'sipp completed its scenario (answered the BYE 200)');
      assert.ok(sipp.sent().some((m) => m.status === 200 && m.cseq().method === 'BYE'));
    });
  });

  it('trunk hangs up: JsSIP ends with cause Terminated (BYE from the remote side)', { timeout: CASE_MS }, async () => {
    await withCall('answer-then-hangup', {}, async (r) => {
      const outcome = await registerAndCall(r);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      const ended = await r.caller.waitFor(['ended', 'failed'], 6000);
      assert.equal(ended.type, 'ended', JSON.stringify(ended));
      assert.equal(ended.originator, 'remote');
      assert.equal(ended.cause, 'Terminated'); // JsSIP.C.causes.BYE
      assert.equal(ended.method, 'BYE');
      const done = await r.sipp.waitExit(5000);
      assert.deepEqual(done, { code: 0, signal: null }, 'sipp got 200 for its BYE');
      const bye = r.sipp.sent().find((m) => m.method === 'BYE');
      const bInv = await browserInvite(r.caller);
      if (B2BUA) assert.notEqual(bye.get('call-id'), bInv.get('call-id'));
    });
  });

  it('trunk busy: JsSIP fails with 486 (cause Busy)', { timeout: CASE_MS }, async () => {
    await withCall('busy', {}, async (r) => {
      const outcome = await registerAndCall(r, { expectRinging: false });
      assert.equal(outcome.type, 'failed', JSON.stringify(outcome));
      assert.equal(outcome.status, 486);
      assert.equal(outcome.cause, 'Busy');
      assert.equal(outcome.originator, 'remote');
      assert.match(outcome.reason, /busy/i, 'the trunk\'s reason phrase reaches the browser');
      const done = await r.sipp.waitExit(5000);
      assert.deepEqual(done, { code: 0, signal: null }, 'sipp got the ACK for its 486');
    });
  });

  it('CANCEL while ringing: the trunk got CANCEL, the browser 487, JsSIP cause Canceled', { timeout: CASE_MS }, async () => {
    await withCall('ring-forever', {}, async (r) => {
      await r.start();
      await r.caller.waitFor(['registered', 'registrationFailed'], 5000);
      await r.caller.call(TARGET);
      const ring = await r.caller.waitFor(['progress', 'failed'], 8000);
      assert.equal(ring.type, 'progress', JSON.stringify(ring));
      assert.equal(ring.status, 180);
      await sleep(300);
      await r.caller.hangup();
      const failed = await r.caller.waitFor(['failed', 'confirmed'], 3000);
      assert.equal(failed.type, 'failed');
      assert.equal(failed.cause, 'Canceled');
      assert.ok(await r.sipp.waitFor((m) => m.method === 'CANCEL', 3000), 'the trunk got CANCEL');
      // JsSIP reports Canceled at once; the 487 must still come back to the browser.
      let got487;
      for (let i = 0; i < 40 && !got487; i++) {
        got487 = (await r.caller.sip()).find((s) => s.dir === 'in' && s.msg.status === 487 && s.msg.cseq().method === 'INVITE');
        if (!got487) await sleep(100);
      }
      assert.ok(got487, 'the browser got 487 for its INVITE');
      const done = await r.sipp.waitExit(5000);
      assert.deepEqual(done, { code: 0, signal: null }, 'sipp answered CANCEL 200, INVITE 487, and got the ACK');
    });
  });

  for (const [how, relay] of [['closed with a close frame', false], ['reset at the TCP level (no close frame)', true]]) {
    it(`WebSocket ${how} mid-call: the trunk gets BYE within 2 s`, { timeout: CASE_MS, skip: B2BUA ? false : `${KIND} keeps no dialog state` }, async () => {
      await withCall('answer', { relay }, async (r) => {
        const outcome = await registerAndCall(r);
        assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
        await sleep(500);
        const t0 = Date.now();
        if (relay) assert.ok(r.relay.cut() >= 1, 'a connection was cut');
        else assert.ok(await r.caller.dropWebSocket(), 'the WebSocket was open');
        const bye = await r.sipp.waitFor((m) => m.method === 'BYE', 4000);
        assert.ok(bye, 'the trunk got BYE');
        const ms = Date.now() - t0;
        console.log(`# BYE reached the trunk ${ms} ms after the WebSocket was ${relay ? 'reset' : 'closed'}`);
        assert.ok(ms <= 2000, `BYE within 2 s (took ${ms} ms)`);
        const done = await r.sipp.waitExit(5000);
        assert.deepEqual(done, { code: 0, signal: null }, 'sipp answered the BYE');
      });
    });
  }

  const badTokens = {
    wrong: () => token({ secret: 'not-the-edge-secret' }),
    expired: () => token({ ttl: -60 }),
    // The signature no longer matches: the id changed, or the expiry moved (within any lifetime limit).
    'tampered id': () => { const t = token(); return { username: t.username.replace(/:.*/, ':admin'), password: t.password }; },
    'tampered expiry': () => { const t = token(); return { username: t.username.replace(/^\d+/, (s) => String(Number(s) - 600)), password: t.password }; },
  };
  for (const [kind, make] of Object.entries(badTokens)) {
    it(`${kind} token: REGISTER and INVITE get 403 with a reason, and no INVITE reaches the trunk`, { timeout: CASE_MS }, async () => {
      await withCall('no-invite-expected', {}, async (r) => {
        await r.start({ credentials: make() });
        const reg = await r.caller.waitFor(['registered', 'registrationFailed'], 5000);
        assert.equal(reg.type, 'registrationFailed', JSON.stringify(reg));
        assert.equal(reg.status, 403, JSON.stringify(reg));
        assert.equal(reg.cause, 'Rejected');
        assert.match(reg.reason || '', /\S/, 'a reason phrase');
        console.log(`# ${kind} token, REGISTER: ${reg.status} ${reg.reason}`);

        await r.caller.call(TARGET);
        const call = await r.caller.waitFor(['failed', 'confirmed', 'progress'], 8000);
        assert.equal(call.type, 'failed', JSON.stringify(call));
        assert.equal(call.status, 403, JSON.stringify(call));
        assert.equal(call.cause, 'Rejected');
        assert.match(call.reason || '', /\S/, 'a reason phrase');
        console.log(`# ${kind} token, INVITE: ${call.status} ${call.reason}`);
        const challenged = (await r.caller.sip()).some((s) => s.dir === 'in' && s.msg.status === 407);
        assert.ok(challenged, 'the INVITE was challenged with 407 first');
        await sleep(500);
        assert.equal(r.sipp.received().length, 0, `nothing reached the trunk: ${r.sipp.received().map((m) => m.startLine)}`);
      });
    });
  }
});

