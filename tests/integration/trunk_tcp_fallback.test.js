// RFC 3261 §18.1.1 with real peers on loopback: the route names a UDP trunk (`--trunk udp:...`) and
// the trunk (sipp `answer`) listens on TCP only, on that port. A call to a long number makes the
// edge's INVITE longer than 1,300 bytes: with --trunk-tcp-fallback it goes over TCP to the same
// address (Via SIP/2.0/TCP), the call connects and its BYE follows over TCP; without the option it
// goes over UDP, is counted (webtrunk_trunk_udp_oversize_total), and finds nobody (503).
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { startSipEdge, ephemeralToken, KIND } = require('./lib/sip_edge');
const { startSipp } = require('./lib/sipp');
const { openCaller, useSharedBrowser } = require('./lib/browser');
const { withContext, tail } = require('./lib/report');

const SECRET = 'edge-test-secret';
const TARGET = `sip:1555${'1'.repeat(300)}@edge.test`;
const shared = useSharedBrowser();

async function withCall(extraArgs, body) {
  const sipp = await startSipp('answer', { timeoutSeconds: 20, transport: 'tcp' });
  let edge, caller;
  try {
    edge = await startSipEdge({ trunkPort: sipp.port, secrets: [SECRET], shards: 1, extraArgs });
    caller = await openCaller(shared.browser, shared.pageServer.url);
    const cred = ephemeralToken({ user: 'alice', secret: SECRET });
    await caller.start({ wsUrl: edge.url, uri: 'sip:alice@edge.test', authUser: cred.username, password: cred.password,
      register: false });
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
  }
}

async function counter(edge, name) {
  const text = await (await fetch(`http://127.0.0.1:${edge.port}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('big INVITEs to a UDP trunk', { timeout: 60000, skip: KIND !== 'webtrunk' }, () => {
  it('--trunk-tcp-fallback: the INVITE over 1,300 bytes goes over TCP, the call connects, the BYE follows', { timeout: 25000 }, async () => {
    await withCall(['--trunk-tcp-fallback'], async ({ sipp, edge, caller }) => {
      await caller.call(TARGET);
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      const invite = sipp.requests('INVITE')[0];
      assert.equal(invite.transport, 'TCP', 'sipp received the INVITE over TCP');
      assert.match(invite.get('via'), /^SIP\/2\.0\/TCP /);
      await caller.hangup();
      const bye = await sipp.waitFor((m) => m.method === 'BYE', 3000);
      assert.ok(bye, 'the trunk got BYE');
      assert.equal(bye.transport, 'TCP');
      assert.equal(await counter(edge, 'webtrunk_trunk_tcp_fallback_total'), 1);
      assert.equal(await counter(edge, 'webtrunk_trunk_udp_oversize_total'), 0);
    });
  });

  it('without the option: sent over UDP as before and counted; nobody listens there: 503', { timeout: 25000 }, async () => {
    await withCall([], async ({ sipp, edge, caller }) => {
      await caller.call(TARGET);
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'failed', JSON.stringify(outcome));
      assert.equal(outcome.status, 503);
      assert.equal(sipp.requests('INVITE').length, 0, 'nothing reached the TCP trunk');
      assert.equal(await counter(edge, 'webtrunk_trunk_udp_oversize_total'), 1);
      assert.equal(await counter(edge, 'webtrunk_trunk_tcp_fallback_total'), 0);
    });
  });
});
