// /metrics is not for whoever reaches the browser port: with --admin-listen the real edge serves
// /metrics and /healthz there and answers 404 for them on the WebSocket port, which still
// upgrades to SIP. Loopback only; the edge is stopped by the PID we started.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startEdge, freePort, httpGet } = require('../integration/lib/edge');
const { connect, sipRequest } = require('./lib/raw_ws');

test('--admin-listen moves /metrics and /healthz off the browser port', async (t) => {
  const adminPort = await freePort();
  const admin = `http://127.0.0.1:${adminPort}`;
  const edge = await startEdge(['--shards', '2', '--no-auth', '--sip-port', '0', '--admin-listen',
    `127.0.0.1:${adminPort}`], { healthz: admin });
  t.after(() => edge.stop());

  const health = await httpGet(`${admin}/healthz`);
  assert.equal(health.status, 200);
  const metrics = await httpGet(`${admin}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /^webtrunk_calls_started_total \d+$/m);
  assert.equal((await httpGet(`${admin}/other`)).status, 404);

  for (const p of ['/metrics', '/healthz', '/metrics?x=1']) {
    const r = await httpGet(`${edge.http}${p}`);
    assert.equal(r.status, 404, `${p} on the browser port`);
    assert.doesNotMatch(r.body, /webtrunk_/, 'no counter leaks on the browser port');
  }

  // The browser port still speaks SIP over WebSocket.
  const ws = await connect(edge.port);
  t.after(() => ws.destroy());
  ws.send(sipRequest('OPTIONS'));
  assert.ok(await ws.until(() => ws.messages.some((m) => m.startsWith('SIP/2.0 200')), 3000), 'OPTIONS answered');
});

test('without --admin-listen the browser port keeps /healthz and /metrics', async (t) => {
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0']);
  t.after(() => edge.stop());
  assert.equal((await httpGet(`${edge.http}/metrics`)).status, 200);
});

test('a bad --admin-listen is refused at start naming the flag', async () => {
  await assert.rejects(startEdge(['--no-auth', '--admin-listen', 'nowhere'], { timeoutMs: 3000 }), /--admin-listen/);
});
