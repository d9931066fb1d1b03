// A SIP trunk over TCP (--trunk tcp:HOST:PORT), with real peers on loopback: JsSIP in headless
// Chromium calls through `webtrunk edge` to sipp listening on TCP (-t t1). The edge connects to the
// trunk, frames SIP on the stream (Content-Length), reuses the connection for the dialog's requests
// both ways, and turns a refused connect or a connection the trunk drops into what a user sees:
// 503 "trunk unreachable (connection refused)" at once, or a BYE. CRLF keep-alives (RFC 5626 §4.4.1)
// run against a small Node TCP trunk that answers the edge's OPTIONS and then its CRLF pings, or not.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { startSipEdge, ephemeralToken, KIND } = require('./lib/sip_edge');
const { startSipp, freeUdpPorts } = require('./lib/sipp');
const { openCaller, useSharedBrowser } = require('./lib/browser');
const { withContext, tail } = require('./lib/report');

const SECRET = 'edge-test-secret';
const TARGET = 'sip:15551230000@edge.test';
const CASE_MS = 25000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const shared = useSharedBrowser();

async function metricsText(edge) {
  return (await fetch(`http://127.0.0.1:${edge.port}/metrics`)).text();
}

// sipp (when `scenario`) as a TCP trunk, the edge in front of it (or of `deadPort`), a JsSIP page.
async function withTcpCall({ scenario, deadPort }, body) {
  const sipp = scenario ? await startSipp(scenario, { timeoutSeconds: 20, transport: 'tcp' }) : null;
  let edge, caller;
  try {
    edge = await startSipEdge({ trunkPort: sipp ? sipp.port : deadPort, secrets: [SECRET], trunkTransport: 'tcp' });
    caller = await openCaller(shared.browser, shared.pageServer.url);
    const cred = ephemeralToken({ user: 'alice', secret: SECRET });
    await caller.start({ wsUrl: edge.url, uri: 'sip:alice@edge.test', authUser: cred.username, password: cred.password,
      register: false });
    await body({ sipp, edge, caller });
  } catch (e) {
    const parts = [];
    if (caller) parts.push(await caller.describe());
    if (sipp) parts.push(sipp.describe());
    if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
    throw withContext(e, parts);
  } finally {
    if (caller) await caller.close();
    if (edge) await edge.stop();
    if (sipp) await sipp.stop();
  }
}

// A TCP trunk that answers OPTIONS 200 and, when `pong`, each CRLFCRLF ping with a CRLF. It records
// when each ping came and when the edge closed the connection.
async function startCrlfTrunk({ pong }) {
  const seen = { pings: [], options: 0, closedAt: null, connections: 0 };
  const sockets = new Set();
  const server = net.createServer((sock) => {
    seen.connections++;
    sockets.add(sock);
    let buf = '';
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (buf.startsWith('\r\n\r\n')) {
          buf = buf.slice(4);
          seen.pings.push(Date.now());
          if (pong) sock.write('\r\n');
          continue;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end <= 0) break;
        const head = buf.slice(0, end);
        const len = Number((/^content-length:\s*(\d+)/im.exec(head) || [0, 0])[1]);
        if (buf.length < end + 4 + len) break;
        buf = buf.slice(end + 4 + len);
        if (!head.startsWith('OPTIONS ')) continue;
        seen.options++;
        const keep = head.split('\r\n').filter((l) => /^(via|from|call-id|cseq):/i.test(l));
        const to = head.split('\r\n').find((l) => /^to:/i.test(l));
        sock.write(['SIP/2.0 200 OK', ...keep, `${to};tag=crlf-trunk`, 'Content-Length: 0', '', ''].join('\r\n'));
      }
    });
    sock.on('close', () => {
      seen.closedAt = Date.now();
      sockets.delete(sock);
    });
    sock.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    seen,
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

async function withCrlfTrunk({ pong }, body) {
  const trunk = await startCrlfTrunk({ pong });
  let edge;
  try {
    // --trunk-ping makes shard 0 connect at once (its first OPTIONS); --trunk-crlf-ping 1 pings the
    // connection after 1 s without traffic.
    edge = await startSipEdge({ trunkPort: trunk.port, secrets: [SECRET], trunkTransport: 'tcp', shards: 1,
      extraArgs: ['--trunk-ping', '60', '--trunk-crlf-ping', '1'] });
    await body({ trunk, edge });
  } catch (e) {
    const parts = [`trunk saw: ${JSON.stringify(trunk.seen)}`];
    if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
    throw withContext(e, parts);
  } finally {
    if (edge) await edge.stop();
    await trunk.stop();
  }
}

function counter(metrics, name) {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : NaN;
}

describe('TCP trunk CRLF keep-alive', { timeout: 60000, skip: KIND !== 'webtrunk' }, () => {
  it('a quiet connection is pinged with CRLFCRLF and stays up while the trunk answers CRLF', { timeout: 15000 }, async () => {
    await withCrlfTrunk({ pong: true }, async ({ trunk, edge }) => {
      await sleep(3800);
      assert.equal(trunk.seen.options, 1, 'the OPTIONS keep-alive opened the connection');
      assert.ok(trunk.seen.pings.length >= 2, `pings: ${trunk.seen.pings.length}`);
      const gaps = trunk.seen.pings.slice(1).map((t, i) => t - trunk.seen.pings[i]);
      assert.ok(gaps.every((g) => g >= 800), `one ping per quiet second, not more: ${gaps}`);
      assert.equal(trunk.seen.closedAt, null, 'the connection stayed up');
      assert.equal(trunk.seen.connections, 1);
      const metrics = await metricsText(edge);
      assert.ok(counter(metrics, 'webtrunk_trunk_crlf_pings_total') >= 2, 'pings counted');
      assert.equal(counter(metrics, 'webtrunk_trunk_crlf_pong_timeouts_total'), 0);
    });
  });

  it('no pong within 10 s: the edge closes the connection and counts it', { timeout: 25000 }, async () => {
    await withCrlfTrunk({ pong: false }, async ({ trunk, edge }) => {
      for (let i = 0; i < 160 && trunk.seen.closedAt === null; i++) await sleep(100);
      assert.ok(trunk.seen.closedAt !== null, 'the edge closed the connection');
      assert.equal(trunk.seen.pings.length, 1, 'one ping, then the wait for its pong');
      const waited = trunk.seen.closedAt - trunk.seen.pings[0];
      assert.ok(waited >= 9500 && waited < 12000, `closed ${waited} ms after the ping`);
      const metrics = await metricsText(edge);
      assert.equal(counter(metrics, 'webtrunk_trunk_crlf_pong_timeouts_total'), 1);
      assert.equal(counter(metrics, 'webtrunk_trunk_tcp_lost_total'), 1);
    });
  });
});

describe('TCP trunk', { timeout: 120000, skip: KIND !== 'webtrunk' }, () => {
  it('a call over TCP is answered and the trunk hangs up with a BYE on the same connection', { timeout: CASE_MS }, async () => {
    await withTcpCall({ scenario: 'answer-then-hangup' }, async ({ sipp, caller }) => {
      await caller.call(TARGET);
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      const ended = await caller.waitFor(['ended', 'failed'], 6000);
      assert.equal(ended.type, 'ended', JSON.stringify(ended));
      assert.equal(ended.originator, 'remote');
      assert.equal(ended.method, 'BYE');
      assert.deepEqual(await sipp.waitExit(5000), { code: 0, signal: null }, 'sipp got 200 for its BYE');
      const invite = sipp.requests('INVITE')[0];
      assert.equal(invite.transport, 'TCP', 'sipp received the INVITE over TCP');
      assert.match(invite.get('via'), /^SIP\/2\.0\/TCP /, 'Via names TCP');
      assert.ok(sipp.received().every((m) => m.transport === 'TCP'));
      assert.ok(sipp.received().some((m) => m.method === 'ACK'), 'the ACK came on the connection');
    });
  });

  it('the browser hangs up: the BYE reaches the TCP trunk, which answers 200', { timeout: CASE_MS }, async () => {
    await withTcpCall({ scenario: 'answer' }, async ({ sipp, caller }) => {
      await caller.call(TARGET);
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      await caller.hangup();
      const bye = await sipp.waitFor((m) => m.method === 'BYE', 3000);
      assert.ok(bye, 'the trunk got BYE');
      assert.equal(bye.transport, 'TCP');
      assert.deepEqual(await sipp.waitExit(5000), { code: 0, signal: null }, 'sipp completed its scenario');
    });
  });

  it('TCP trunk not listening: 503 "trunk unreachable (connection refused)" within a second', { timeout: CASE_MS }, async () => {
    const deadPort = await freeUdpPorts(1); // nothing listens on it (UDP or TCP)
    await withTcpCall({ deadPort }, async ({ edge, caller }) => {
      await caller.call(TARGET);
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 5000);
      assert.equal(outcome.type, 'failed', JSON.stringify(outcome));
      assert.equal(outcome.status, 503);
      assert.match(outcome.reason, /trunk unreachable \(connection refused\)/);
      const sip = await caller.sip();
      const invite = sip.filter((s) => s.dir === 'out' && s.msg.method === 'INVITE').pop();
      const fail = sip.find((s) => s.dir === 'in' && s.msg.status === 503);
      assert.ok(fail.t - invite.t < 1000, `503 came ${fail.t - invite.t} ms after the INVITE`);
      const metrics = await metricsText(edge);
      assert.match(metrics, /^webtrunk_trunk_tcp_connect_failures_total(\{[^}]*\})? [1-9]/m);
      assert.match(metrics, /^webtrunk_trunk_unreachable_total(\{[^}]*\})? [1-9]/m);
      // Counted on its route (--trunk: the default route "*"), with the reason class.
      const labels = `route="*",trunk="tcp:127.0.0.1:${deadPort}"`;
      assert.ok(metrics.includes(`webtrunk_route_calls_failed_total{${labels},reason="unreachable_refused"} 1\n`),
        metrics.split('\n').filter((l) => l.startsWith('webtrunk_route_calls_failed_total{')).join('\n'));
    });
  });

  it('the trunk dies mid-call (its TCP connection ends): the browser gets a BYE', { timeout: CASE_MS }, async () => {
    await withTcpCall({ scenario: 'answer' }, async ({ sipp, edge, caller }) => {
      await caller.call(TARGET);
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      process.kill(sipp.pid, 'SIGKILL');
      const ended = await caller.waitFor(['ended', 'failed'], 3000);
      assert.equal(ended.type, 'ended', JSON.stringify(ended));
      assert.equal(ended.originator, 'remote');
      const metrics = await metricsText(edge);
      assert.match(metrics, /^webtrunk_calls_trunk_connection_lost_total(\{[^}]*\})? 1$/m);
      // The next call finds the trunk gone: refused, 503 at once (waitFor would return the first
      // call's events: look at what came after).
      const before = (await caller.events()).length;
      await caller.call(TARGET);
      let again;
      for (let i = 0; i < 100 && !again; i++) {
        again = (await caller.events()).slice(before).find((e) => ['confirmed', 'failed'].includes(e.type));
        if (!again) await sleep(50);
      }
      assert.ok(again, 'the second call ended within 5 s');
      assert.equal(again.type, 'failed', JSON.stringify(again));
      assert.equal(again.status, 503);
      assert.match(again.reason, /trunk unreachable/);
    });
  });
});
