// Graceful drain of the real binary (README "Shutdown and restarts"): a browser (a plain `ws`
// client speaking SIP over WebSocket, RFC 7118) calls through `webtrunk edge --no-auth` to sipp as
// the trunk (sipp/answer.xml); then the edge gets SIGTERM. Asserted: what a load balancer, a new
// browser, the browser in the call and the trunk each see, the CDR line and the exit status.
'use strict';
const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('ws');
const { startEdge, httpGet, sleep } = require('./lib/edge');
const { startSipp, freeUdpPorts } = require('./lib/sipp');
const { parseSip } = require('./lib/sipmsg');
const { withContext, tail } = require('./lib/report');

const OFFER = fs.readFileSync(path.join(__dirname, '../data/sdp/chromium/offer-example.sdp'), 'utf8')
  .replace(/\r?\n/g, '\r\n');
const REASON = 'SIP;cause=503;text="Edge shutting down"';

// A minimal SIP-over-WebSocket UA: sends requests, collects everything the edge sends, answers the
// edge's BYE 200 and records how the socket closed.
async function openUa(url, timeoutMs = 3000) {
  const ws = new WebSocket(url, 'sip');
  const ua = { ws, inbox: [], closed: null, seq: 0 };
  ws.on('message', (d) => {
    const m = parseSip(d.toString());
    ua.inbox.push(m);
    if (m.method === 'BYE') ws.send(response(m, 200, 'OK'));
  });
  ws.on('close', (code, reason) => { ua.closed = { code, reason: reason.toString() }; });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('WebSocket open timed out')), timeoutMs);
    ws.once('open', () => { clearTimeout(t); resolve(); });
    ws.once('error', (e) => { clearTimeout(t); reject(e); });
  });
  ua.waitFor = async (pred, ms = 5000) => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = ua.inbox.find(pred);
      if (hit) return hit;
      if (Date.now() > end) return null;
      await sleep(20);
    }
  };
  return ua;
}

function response(req, code, reason) {
  const copy = ['via', 'from', 'to', 'call-id', 'cseq'];
  const lines = [`SIP/2.0 ${code} ${reason}`];
  for (const h of req.headers) if (copy.includes(h.name)) lines.push(`${h.name}: ${h.value}`);
  return `${lines.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
}

function request(ua, method, { callId, fromTag, toTag = '', cseq, body = '' }) {
  const lines = [
    `${method} sip:15551230000@edge.test SIP/2.0`,
    `Via: SIP/2.0/WSS drain${ua.seq}.invalid;branch=z9hG4bK${Date.now()}x${++ua.seq}`,
    'Max-Forwards: 69',
    `To: <sip:15551230000@edge.test>${toTag ? `;tag=${toTag}` : ''}`,
    `From: <sip:alice@edge.test>;tag=${fromTag}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`,
    'Contact: <sip:alice@drain.invalid;transport=ws;ob>',
  ];
  if (body) lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

// Places a call and ACKs its 200; resolves with the dialog.
async function placeCall(ua) {
  const d = { callId: `drain-${Date.now()}-${Math.random()}`, fromTag: `t${ua.seq}`, cseq: 1 };
  ua.ws.send(request(ua, 'INVITE', { ...d, body: OFFER }));
  const ok = await ua.waitFor((m) => m.status >= 200, 8000);
  assert.ok(ok, 'no final response to the INVITE');
  assert.equal(ok.status, 200, ok.startLine);
  d.toTag = /;tag=([^;>\s]+)/.exec(ok.all('to')[0])[1];
  ua.ws.send(request(ua, 'ACK', { ...d }));
  return d;
}

// The edge's exit: {code, signal}, or null after timeoutMs.
function exitOf(edge, timeoutMs) {
  if (edge.child.exitCode !== null || edge.child.signalCode !== null) {
    return Promise.resolve({ code: edge.child.exitCode, signal: edge.child.signalCode });
  }
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), timeoutMs);
    edge.child.once('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal }); });
  });
}

// One case: sipp answering, an edge with `drainTimeout`, one call up through a `ws` UA.
async function withCallUp(drainTimeout, body) {
  const sipp = await startSipp('answer', { timeoutSeconds: 30 });
  let edge, ua;
  try {
    const sipPort = await freeUdpPorts(1);
    // --trunk-ping 0: sipp would count a keep-alive as its one call (lib/sip_edge.js).
    edge = await startEdge(['--trunk', `udp:127.0.0.1:${sipp.port}`, '--trunk-ping', '0', '--sip-listen', '127.0.0.1',
      '--sip-port', String(sipPort), '--no-auth', '--shards', '1', '--drain-timeout', String(drainTimeout)],
    { logLevel: 'info' });
    ua = await openUa(edge.url);
    await placeCall(ua);
    assert.ok(await sipp.waitFor((m) => m.method === 'ACK', 3000), 'the trunk got no ACK');
    await body({ sipp, edge, ua });
  } catch (e) {
    const parts = [sipp.describe()];
    if (ua) parts.push(`browser got:\n${ua.inbox.map((m) => `  ${m.startLine}`).join('\n')}\nclose: ${JSON.stringify(ua.closed)}`);
    if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
    throw withContext(e, parts);
  } finally {
    if (ua) ua.ws.terminate();
    if (edge) await edge.stop();  // a no-op once it exited
    await sipp.stop();
  }
}

describe('drain on SIGTERM', { timeout: 60000 }, () => {
  it('refuses new work, keeps the call until --drain-timeout, then BYE both legs, 1001, CDR, exit 0', async () => {
    await withCallUp(3, async ({ sipp, edge, ua }) => {
      const t0 = Date.now();
      edge.child.kill('SIGTERM');
      await sleep(300);
      // A load balancer sees the node going: /healthz 503.
      const h = await httpGet(`${edge.http}/healthz`, 2000);
      assert.equal(h.status, 503);
      assert.match(h.body, /draining/);
      // A new browser is refused: the upgrade gets 503.
      const refused = await new Promise((resolve) => {
        const ws = new WebSocket(edge.url, 'sip');
        const t = setTimeout(() => { ws.terminate(); resolve('timeout'); }, 3000);
        ws.once('unexpected-response', (_req, res) => { clearTimeout(t); ws.terminate(); resolve(res.statusCode); });
        ws.once('open', () => { clearTimeout(t); ws.terminate(); resolve('open'); });
        ws.once('error', () => {});
      });
      assert.equal(refused, 503);
      // A new INVITE on the open WebSocket: 503 with Retry-After.
      const second = { callId: `drain-new-${Date.now()}`, fromTag: 'n1', cseq: 1 };
      ua.ws.send(request(ua, 'INVITE', { ...second, body: OFFER }));
      const r503 = await ua.waitFor((m) => m.status >= 200 && m.all('call-id')[0] === second.callId, 3000);
      assert.ok(r503, 'no answer to an INVITE while draining');
      assert.equal(r503.status, 503);
      assert.equal(r503.reason, 'Service Unavailable: draining');
      assert.ok(r503.all('retry-after').length === 1, r503.raw);
      // The call is still up: nobody got a BYE yet.
      await sleep(1000);
      assert.equal(sipp.requests('BYE').length, 0, 'the trunk got BYE before --drain-timeout');
      assert.equal(ua.inbox.filter((m) => m.method === 'BYE').length, 0);

      // After --drain-timeout (3 s): BYE with the Reason on both legs, then 1001, then exit 0.
      const byeT = await sipp.waitFor((m) => m.method === 'BYE', 6000);
      assert.ok(byeT, 'the trunk got no BYE');
      assert.deepEqual(byeT.all('reason'), [REASON]);
      const byeB = await ua.waitFor((m) => m.method === 'BYE', 2000);
      assert.ok(byeB, 'the browser got no BYE');
      assert.deepEqual(byeB.all('reason'), [REASON]);
      const waited = Date.now() - t0;
      assert.ok(waited >= 2500, `hung up after ${waited} ms, before --drain-timeout`);
      const exit = await exitOf(edge, 8000);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.equal(ua.closed && ua.closed.code, 1001);
      assert.equal(await sipp.waitExit(3000) !== null, true, 'sipp did not finish its scenario (BYE answered)');
      assert.equal(sipp.exit.code, 0);
      const cdr = edge.log().split('\n').filter((l) => l.includes('"event":"cdr"'));
      assert.equal(cdr.length, 1, `CDR lines:\n${cdr.join('\n')}`);
      assert.ok(cdr[0].includes('end_reason\\":\\"edge shutdown'), cdr[0]);
      assert.ok(cdr[0].includes('"code\\":200'), cdr[0]);
      for (const phase of ['phase=started calls=1', 'phase=hung_up calls_ended=1', 'phase=done']) {
        assert.ok(edge.log().includes(phase), `no "${phase}" in the log`);
      }
    });
  });

  it('a second SIGTERM hangs up at once: BYE both legs, exit 0', async () => {
    await withCallUp(30, async ({ sipp, edge, ua }) => {
      edge.child.kill('SIGTERM');
      await sleep(500);
      assert.equal(sipp.requests('BYE').length, 0);
      const t0 = Date.now();
      edge.child.kill('SIGTERM');
      const byeT = await sipp.waitFor((m) => m.method === 'BYE', 3000);
      assert.ok(byeT, 'the trunk got no BYE after the second SIGTERM');
      assert.deepEqual(byeT.all('reason'), [REASON]);
      assert.ok(await ua.waitFor((m) => m.method === 'BYE', 2000), 'the browser got no BYE');
      const exit = await exitOf(edge, 6000);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(Date.now() - t0 < 6000);
      assert.equal(ua.closed && ua.closed.code, 1001);
      assert.ok(edge.log().includes('phase=hang_up_now'));
    });
  });
});
