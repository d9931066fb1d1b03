// Abuse of the browser-facing port against the real binary: each finding of an attack on the edge
// is reproduced here and must now meet the documented outcome (README "Limits"). Loopback only
// (127.0.0.1 is the abuser, 127.0.0.2 a well-behaved client); every loop is bounded in count and
// time; the edge is stopped by the PID we started.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const { startEdge, sleep, procStatus } = require('../integration/lib/edge');
const { OP, connect, sipRequest } = require('./lib/raw_ws');

const GOOD = '127.0.0.2';
const OBSERVER = '127.0.0.3';  // reads /metrics: 127.0.0.1 is the abuser, refused or banned at times

// A counter's sum from /metrics, asked from OBSERVER.
function metric(edge, name) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${edge.http}/metrics`, { localAddress: OBSERVER, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        const m = body.match(new RegExp(`^${name} (\\S+)$`, 'm'));
        resolve(m ? Number(m[1]) : undefined);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// Opens a connection and registers (--no-auth); resolves with the connection.
async function registered(edge, localAddress = GOOD) {
  const ws = await connect(edge.port, { localAddress });
  ws.send(sipRequest('REGISTER', { user: 'good' }));
  assert.ok(await ws.until(() => ws.messages.some((m) => m.startsWith('SIP/2.0 200')), 3000), 'REGISTER answered 200');
  return ws;
}

test('slow readers flooding OPTIONS are closed with 1008 at their send-queue bound; memory stays bounded', async (t) => {
  // The unauthenticated-request rate is lifted so that this case reaches the send-queue bound.
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--max-unauth-requests-per-address',
    '1000000', '--ws-close-timeout', '20000']);
  t.after(() => edge.stop());
  await sleep(300);
  const base = procStatus(edge.pid).rssKiB;
  const N = 10;
  const floods = await Promise.all(Array.from({ length: N }, () => connect(edge.port)));
  for (const ws of floods) ws.pause();  // they never read what the edge answers
  const good = await registered(edge);

  const batch = Array.from({ length: 500 }, () => sipRequest('OPTIONS'));
  const deadline = Date.now() + 40000;
  let peak = 0;
  let goodAnswers = 0;
  let goodAsked = 0;
  // Flood until every slow reader has been failed (the counter says so) or 40 s passed. The
  // kernel's socket buffers (several MiB each way on loopback) fill before the edge's queue does.
  while (Date.now() < deadline) {
    for (const ws of floods) {
      if (ws.ended || ws.sock.writableLength > (4 << 20)) continue;
      for (const m of batch) ws.send(m);
    }
    goodAsked++;
    const before = good.messages.length;
    good.send(sipRequest('OPTIONS', { user: 'good' }));
    if (await good.until(() => good.messages.length > before, 2000)) goodAnswers++;
    peak = Math.max(peak, procStatus(edge.pid).rssKiB);
    if ((await metric(edge, 'webtrunk_ws_closed_send_queue_total')) >= N) break;
  }
  assert.equal(await metric(edge, 'webtrunk_ws_closed_send_queue_total'), N, 'every slow reader hit the bound');
  // Before the bound the edge grew by gigabytes; now each reader costs at most its queue (1 MiB).
  const growthMiB = (peak - base) / 1024;
  t.diagnostic(`edge RSS: base ${(base / 1024).toFixed(1)} MiB, peak ${(peak / 1024).toFixed(1)} MiB`);
  assert.ok(growthMiB < 64, `edge RSS grew ${growthMiB.toFixed(1)} MiB`);
  assert.equal(goodAnswers, goodAsked, 'the well-behaved client got every answer');

  // Once they read, the slow readers find the close frame the edge queued after their answers.
  for (const ws of floods) ws.resume();
  const codes = await Promise.all(floods.map(async (ws) => {
    await ws.until(() => ws.closeFrame !== null || ws.ended, 15000);
    return ws.closeFrame && ws.closeFrame.code;
  }));
  assert.deepEqual(codes, Array(N).fill(1008));
  assert.match(floods[0].closeFrame.reason, /send queue full/);
  for (const ws of floods) ws.destroy();
  good.destroy();
});

test('past the shard memory ceiling the growing connection is closed with 1013', async (t) => {
  // A 1 MiB ceiling under a 1 MiB send queue: two slow readers cross the ceiling together before
  // either reaches its own bound.
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--max-unauth-requests-per-address',
    '1000000', '--max-memory-per-shard', '1', '--ws-close-timeout', '20000']);
  t.after(() => edge.stop());
  const readers = await Promise.all([0, 1].map(() => connect(edge.port)));
  for (const ws of readers) ws.pause();
  // 30,000 OPTIONS each: ~10 MiB of answers, more than the socket buffers and the queue hold.
  const batch = Array.from({ length: 500 }, () => sipRequest('OPTIONS'));
  for (let i = 0; i < 60; i++) {
    for (const ws of readers) for (const m of batch) ws.send(m);
    await sleep(20);
  }
  await sleep(1000);
  for (const ws of readers) ws.resume();
  const codes = await Promise.all(readers.map(async (ws) => {
    await ws.until(() => ws.closeFrame !== null || ws.ended, 20000);
    return ws.closeFrame && ws.closeFrame.code;
  }));
  assert.ok(codes.includes(1013), `close codes ${codes}`);
  for (const c of codes) assert.ok(c === 1013 || c === 1008, `close code ${c}`);
  for (const ws of readers) ws.destroy();
  // Back under the ceiling once they are gone: /metrics (a new connection) is served again.
  const deadline = Date.now() + 5000;
  let closed;
  while (Date.now() < deadline) {
    closed = await metric(edge, 'webtrunk_ws_closed_memory_total').catch(() => undefined);
    if (closed !== undefined) break;
    await sleep(100);
  }
  assert.ok(closed >= 1);
  assert.equal(await metric(edge, 'webtrunk_ws_buffered_bytes'), 0);
});

test('idle connections beyond the per-address cap are refused; another address still gets in', async (t) => {
  const CAP = 256;  // the default --max-connections-per-address
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--max-new-connections-per-address',
    '100000']);
  t.after(() => edge.stop());
  const held = [];
  let refused = 0;
  for (let i = 0; i < CAP + 40; i += 50) {
    const n = Math.min(50, CAP + 40 - i);
    const r = await Promise.allSettled(Array.from({ length: n }, () => connect(edge.port)));
    for (const x of r) {
      if (x.status === 'fulfilled') held.push(x.value);
      else if (x.reason.refused) refused++;
      else throw x.reason;
    }
  }
  assert.equal(held.length, CAP);
  assert.equal(refused, 40);
  assert.equal(await metric(edge, 'webtrunk_ws_refused_address_full_total'), 40);
  // A browser elsewhere is not affected, and gets its answers.
  const good = await registered(edge);
  good.destroy();
  for (const ws of held) ws.destroy();
});

test('a source opening connections too fast is banned; another address still gets in', async (t) => {
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--ban-time', '60']);
  t.after(() => edge.stop());
  const r = await Promise.allSettled(Array.from({ length: 150 }, () => connect(edge.port)));
  const ok = r.filter((x) => x.status === 'fulfilled').map((x) => x.value);
  assert.ok(ok.length <= 100, `${ok.length} of 150 got in within a second (limit 100/s)`);
  assert.equal(await metric(edge, 'webtrunk_ws_refused_rate_total'), 1);
  // Banned: even after the second is over, 127.0.0.1 is refused.
  await sleep(1100);
  await assert.rejects(connect(edge.port), (e) => e.refused === true);
  assert.ok((await metric(edge, 'webtrunk_ws_refused_banned_total')) >= 1);
  const good = await registered(edge);
  good.destroy();
  for (const ws of ok) ws.destroy();
});

test('unauthenticated requests over the per-address rate close the connection with 1008', async (t) => {
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--max-unauth-requests-per-address',
    '20']);
  t.after(() => edge.stop());
  const ws = await connect(edge.port);
  for (let i = 0; i < 100; i++) ws.send(sipRequest('OPTIONS'));
  assert.ok(await ws.until(() => ws.closeFrame !== null, 3000), 'closed');
  assert.equal(ws.closeFrame.code, 1008);
  assert.equal(ws.messages.length, 20, 'the first 20 were answered');
  assert.equal(await metric(edge, 'webtrunk_ws_closed_request_rate_total'), 1);
  // A registered flow is trusted: its requests do not count.
  const good = await registered(edge);
  for (let i = 0; i < 100; i++) good.send(sipRequest('OPTIONS', { user: 'good' }));
  assert.ok(await good.until(() => good.messages.length === 101, 3000), 'all 100 answered');
  assert.equal(good.closeFrame, null);
  good.destroy();
  ws.destroy();
});

test('an idle WebSocket is pinged, and closed with 1008 when it does not answer', async (t) => {
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--ws-ping-interval', '1',
    '--ws-idle-timeout', '3']);
  t.after(() => edge.stop());
  const silent = await connect(edge.port, { autoPong: false });
  const alive = await connect(edge.port, { localAddress: GOOD });  // answers pings, sends nothing else
  const t0 = Date.now();
  assert.ok(await silent.until(() => silent.closeFrame !== null, 6000), 'closed');
  const took = Date.now() - t0;
  assert.equal(silent.closeFrame.code, 1008);
  assert.equal(silent.closeFrame.reason, 'idle timeout');
  assert.ok(silent.pings >= 1, 'pinged first');
  assert.ok(took >= 2000, `closed after ${took} ms`);
  assert.equal(await metric(edge, 'webtrunk_ws_closed_idle_total'), 1);
  // The one that answers pings is still open.
  assert.ok(alive.pings >= 2);
  assert.equal(alive.closeFrame, null);
  assert.equal(alive.ended, false);
  alive.destroy();
  silent.destroy();
});

test('an unfinished fragmented message is dropped at its deadline', async (t) => {
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--ws-partial-timeout', '2']);
  t.after(() => edge.stop());
  const ws = await connect(edge.port);
  ws.sendFrame(OP.text, 'OPTIONS sip:edge.invalid SIP/2.0\r\n' + 'X: '.padEnd(60000, 'x'), { fin: false });
  await sleep(1000);
  ws.sendFrame(OP.continuation, 'more', { fin: false });  // a trickle does not move the deadline
  assert.ok(await ws.until(() => ws.closeFrame !== null, 4000), 'closed');
  assert.equal(ws.closeFrame.code, 1008);
  assert.equal(ws.closeFrame.reason, 'message not finished in time');
  assert.equal(await metric(edge, 'webtrunk_ws_closed_partial_timeout_total'), 1);
  assert.equal(await metric(edge, 'webtrunk_ws_buffered_bytes'), 0);
  ws.destroy();
});

test('a flood of bad SIP writes a bounded number of log lines', async (t) => {
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--max-unauth-requests-per-address',
    '1000000'], { logLevel: 'info' });
  t.after(() => edge.stop());
  const conns = await Promise.all([0, 1, 2].map(() => connect(edge.port)));
  const N = 2000;
  for (const ws of conns) {
    for (let i = 0; i < N; i++) ws.send(i % 2 ? 'not SIP at all\r\n\r\n' : sipRequest('OPTIONS').replace('Max-Forwards: 70\r\n', ''));
  }
  await Promise.all(conns.map((ws) => ws.until(() => ws.messages.length >= N / 2, 10000)));
  assert.equal(await metric(edge, 'webtrunk_sip_parse_errors_ws_total'), 3 * N / 2);
  const lines = edge.log().split('\n').filter((l) => /sip\.(parse_error|invalid_request)/.test(l));
  t.diagnostic(`${lines.length} log lines for ${3 * N} bad messages`);
  assert.ok(lines.length <= 4, `${lines.length} lines:\n${lines.slice(0, 5).join('\n')}`);
  for (const ws of conns) ws.destroy();
});

test('a NUL byte in a header value is answered 400 with the reason', async (t) => {
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0']);
  t.after(() => edge.stop());
  const ws = await connect(edge.port);
  ws.send(sipRequest('OPTIONS', { extraHeaders: 'User-Agent: evil\0agent\r\n' }));
  assert.ok(await ws.until(() => ws.messages.length === 1, 3000));
  assert.match(ws.messages[0], /^SIP\/2\.0 400 NUL byte in header value\r\n/);
  ws.destroy();
});

test('the edge raises its open-file soft limit to the hard limit', async (t) => {
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0']);
  t.after(() => edge.stop());
  const line = fs.readFileSync(`/proc/${edge.pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = line.split(/\s{2,}/).slice(1, 3);
  assert.equal(soft, hard, line);
});
