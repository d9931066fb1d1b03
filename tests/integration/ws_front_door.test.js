// The edge's WebSocket front door (RFC 6455 + RFC 7118) against a third-party client, npm `ws`.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startEdge, httpGet, sleep, procStatus, metric } = require('./lib/edge');

function open(url, protocols = ['sip'], opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { handshakeTimeout: 3000, ...opts });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
  });
}

function closed(ws) {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

test('WebSocket front door', async (t) => {
  const edge = await startEdge(['--shards', '2', '--no-auth', '--sip-port', '0']);
  t.after(() => edge.stop());

  await t.test('upgrade with subprotocol sip, ping answered, clean close', async () => {
    const ws = await open(edge.url);
    assert.equal(ws.protocol, 'sip');
    const pong = new Promise((resolve) => ws.once('pong', (d) => resolve(d.toString())));
    ws.ping('are-you-there');
    assert.equal(await pong, 'are-you-there');
    const c = closed(ws);
    ws.close(1000, 'bye');
    const { code } = await c;
    assert.equal(code, 1000);
  });

  await t.test('a client that does not offer subprotocol sip is refused with a reason', async () => {
    await assert.rejects(open(edge.url, ['chat']), (e) => e.status === 400 && /sip/i.test(e.body));
    await assert.rejects(open(edge.url, []), (e) => e.status === 400);
  });

  await t.test('CRLF keep-alive is answered and the connection stays open', async () => {
    const ws = await open(edge.url);
    const reply = new Promise((resolve) => ws.once('message', (d) => resolve(d.toString())));
    ws.send('\r\n\r\n');
    assert.equal(await reply, '\r\n');
    assert.equal(ws.readyState, WebSocket.OPEN);
    const c = closed(ws);
    ws.close(1000);
    assert.equal((await c).code, 1000);
  });

  await t.test('fragmented message and binary frames keep the connection open', async () => {
    const ws = await open(edge.url);
    ws.send('OPTIONS sip:edge ', { fin: false });
    ws.send('SIP/2.0\r\n\r\n', { fin: true });
    ws.send(Buffer.from('binary frame'), { binary: true });
    await sleep(200);
    assert.equal(ws.readyState, WebSocket.OPEN);
    const c = closed(ws);
    ws.close(1000);
    assert.equal((await c).code, 1000);
  });

  await t.test('a message over the size limit closes with 1009', async () => {
    const ws = await open(edge.url);
    const c = closed(ws);
    ws.send('x'.repeat(70 * 1024));
    assert.equal((await c).code, 1009);
  });

  await t.test('an unmasked client frame closes with 1002', async () => {
    const ws = await open(edge.url, ['sip'], { skipUTF8Validation: true });
    const c = closed(ws);
    ws._socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));  // text "hi" without a mask
    assert.equal((await c).code, 1002);
  });

  await t.test('/healthz and /metrics answer on the same port', async () => {
    const h = await httpGet(`${edge.http}/healthz`);
    assert.equal(h.status, 200);
    const m = await httpGet(`${edge.http}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.body, /^webtrunk_ws_upgrades_total \d+$/m);
    assert.ok((await metric(edge, 'webtrunk_ws_upgrades_total')) >= 4);
    const nf = await httpGet(`${edge.http}/nope`);
    assert.equal(nf.status, 404);
  });
});

test('1,000 connections held open then closed leave fds and memory at baseline', async (t) => {
  // All from one address: lift the per-address admission limits (tests/abuse checks them).
  const edge = await startEdge(['--shards', '2', '--no-auth', '--sip-port', '0', '--max-connections-per-address',
    '5000', '--max-new-connections-per-address', '100000']);
  t.after(() => edge.stop());
  const N = 1000;
  // Two rounds of N connections. The first brings the edge's tables and allocator arenas to their
  // high-water mark; after the second, fds and memory must be where the second round started.
  let base, held, after;
  for (let round = 0; round < 2; round++) {
    await sleep(200);
    base = procStatus(edge.pid);
    const socks = [];
    for (let i = 0; i < N; i += 100) {
      socks.push(...(await Promise.all(Array.from({ length: 100 }, () => open(edge.url)))));
    }
    await sleep(300);
    held = procStatus(edge.pid);
    assert.equal(held.fds - base.fds, N, 'one fd per open connection');
    assert.equal(await metric(edge, 'webtrunk_ws_connections'), N);
    console.log(`# round ${round}: ${N} idle connections, RSS ${base.rssKiB} -> ${held.rssKiB} KiB ` +
                `(${((held.rssKiB - base.rssKiB) / N).toFixed(2)} KiB/connection)`);
    await Promise.all(socks.map((ws) => { const c = closed(ws); ws.close(1000); return c; }));
    // The edge closes its side once the close handshake finishes; give it a bounded moment.
    const deadline = Date.now() + 5000;
    after = procStatus(edge.pid);
    while (after.fds !== base.fds && Date.now() < deadline) {
      await sleep(100);
      after = procStatus(edge.pid);
    }
    assert.equal(after.fds, base.fds, 'every connection fd is closed');
    assert.equal(await metric(edge, 'webtrunk_ws_connections'), 0);
  }
  console.log(`# after the second round: RSS ${after.rssKiB} KiB (round start ${base.rssKiB} KiB)`);
  assert.ok(after.rssKiB - base.rssKiB <= 256, `RSS back at baseline: +${after.rssKiB - base.rssKiB} KiB`);
});

test('SIGTERM stops the edge cleanly', async () => {
  const edge = await startEdge(['--shards', '2', '--no-auth', '--sip-port', '0']);
  const r = await edge.stop();
  assert.equal(r.code, 0, edge.log());
});
