// Reliable provisional responses on the trunk leg (RFC 3262), with real peers on loopback: JsSIP in
// headless Chromium calls through `webtrunk edge` to sipp (sipp/reliable-183-prack.xml), whose 183
// carries `Require: 100rel`, `RSeq: 1` and its SDP. The edge PRACKs it in the early dialog, the
// browser gets a plain 183 with the edge's answer (no 100rel: JsSIP and SIP.js do not use it), the
// trunk's 200 connects the call, and the browser's hang-up reaches the trunk as a BYE.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { startSipEdge, ephemeralToken, KIND } = require('./lib/sip_edge');
const { startSipp } = require('./lib/sipp');
const { openCaller, useSharedBrowser } = require('./lib/browser');
const { withContext, tail } = require('./lib/report');

const SECRET = 'edge-test-secret';
const CALLER = 'sip:alice@edge.test';
const TARGET = 'sip:15551230000@edge.test';
const CASE_MS = 25000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const shared = useSharedBrowser();

describe('reliable provisionals from the trunk (100rel)', { timeout: 60000, skip: KIND !== 'webtrunk' }, () => {
  it('reliable 183 with SDP: PRACK with RAck in the early dialog, plain 183 to the browser, the call connects and hangs up cleanly', { timeout: CASE_MS }, async () => {
    const sipp = await startSipp('reliable-183-prack', { timeoutSeconds: 20 });
    let edge, caller;
    try {
      edge = await startSipEdge({ trunkPort: sipp.port, secrets: [SECRET] });
      caller = await openCaller(shared.browser, shared.pageServer.url);
      const cred = ephemeralToken({ user: 'alice', secret: SECRET });
      await caller.start({ wsUrl: edge.url, uri: CALLER, authUser: cred.username, password: cred.password, register: false });
      await caller.call(TARGET);
      const progress = await caller.waitFor(['progress', 'failed'], 8000);
      assert.equal(progress.type, 'progress', JSON.stringify(progress));
      assert.equal(progress.status, 183);
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));

      const invite = sipp.requests('INVITE')[0];
      assert.match(invite.all('supported').join(', '), /\b100rel\b/, 'the INVITE says Supported: 100rel');
      const pracks = sipp.requests('PRACK');
      assert.equal(pracks.length, 1, `one PRACK: ${pracks.map((m) => m.summary()).join(', ')}`);
      const prack = pracks[0];
      const reliable = sipp.sent().find((m) => m.status === 183);
      assert.equal(prack.get('rack'), `1 ${invite.cseq().seq} INVITE`, 'RAck: the RSeq, the INVITE\'s CSeq number and method');
      assert.equal(prack.get('call-id'), invite.get('call-id'));
      assert.equal(prack.tag('from'), invite.tag('from'));
      assert.equal(prack.tag('to'), reliable.tag('to'), 'in the early dialog of the 183');
      assert.equal(prack.cseq().seq, invite.cseq().seq + 1, 'the early dialog\'s next CSeq');

      // The browser never hears of 100rel.
      const sip = await caller.sip();
      const early = sip.filter((s) => s.dir === 'in' && s.msg.status === 183);
      assert.equal(early.length, 1, 'one 183 reached the browser');
      assert.equal(early[0].msg.get('require'), undefined, 'no Require toward the browser');
      assert.equal(early[0].msg.get('rseq'), undefined, 'no RSeq toward the browser');
      assert.ok(!sip.some((s) => s.dir === 'out' && s.msg.method === 'PRACK'), 'the browser sends no PRACK');

      const metrics = await (await fetch(`http://127.0.0.1:${edge.port}/metrics`)).text();
      assert.match(metrics, /^webtrunk_trunk_prack_sent_total(\{[^}]*\})? 1$/m, 'counted in /metrics');

      await sleep(300);
      await caller.hangup();
      const bye = await sipp.waitFor((m) => m.method === 'BYE', 3000);
      assert.ok(bye, 'the trunk got BYE');
      assert.ok(bye.cseq().seq > prack.cseq().seq, 'the BYE\'s CSeq is above the PRACK\'s in the same dialog');
      assert.deepEqual(await sipp.waitExit(5000), { code: 0, signal: null }, 'sipp ran its scenario to the end');
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
    }
  });
});
