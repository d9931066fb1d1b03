// A trunk that dies, against the real binary on loopback (README "Dead trunks"). A browser-side SIP
// client on a raw WebSocket calls through `webtrunk edge` to a real trunk:
// - sipp answers, then is killed -9 (by its PID): the idle call gets a BYE with a Reason within the
//   bound (--call-ping, the kernel's ICMP answers the in-dialog OPTIONS), the CDR says why, the
//   keep-alives (--trunk-ping) mark the trunk down and the next call gets 503 at once; a sipp
//   started again on the port brings it back up.
// - `webtrunk echo-trunk` gets SIGTERM: the call gets its BYE and the echo trunk exits 0.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const { BIN, startEdge, metric, sleep } = require('../integration/lib/edge');
const { startSipp, freeUdpPorts } = require('../integration/lib/sipp');
const { connect, sipInvite } = require('./lib/raw_ws');

const header = (msg, name) => (msg.match(new RegExp(`^${name}:\\s*(.*)$`, 'mi')) || [])[1];

// Places a call on `ws` and ACKs the edge's 200; returns the call with the edge's To tag.
async function connectCall(ws) {
  const c = sipInvite('alice');
  ws.send(c.text);
  const ok = () => ws.messages.find((m) => m.startsWith('SIP/2.0 ') && m.includes(`Call-ID: ${c.callId}`) &&
    /^SIP\/2\.0 [2-6]\d\d /.test(m));
  assert.ok(await ws.until(() => ok() !== undefined, 5000),
    `a final answer to the INVITE; got:\n${ws.messages.map((m) => m.split('\r\n')[0]).join('\n')}`);
  const resp = ok();
  assert.match(resp, /^SIP\/2\.0 200 /, resp.split('\r\n')[0]);
  const toTag = header(resp, 'To').match(/tag=([^;>\s]+)/)[1];
  const contact = header(resp, 'Contact').match(/<([^>]+)>/)[1];
  ws.send(`ACK ${contact} SIP/2.0\r\n` +
    `Via: SIP/2.0/WSS abcdef.invalid;branch=z9hG4bK${crypto.randomBytes(6).toString('hex')}\r\n` +
    'Max-Forwards: 70\r\n' +
    `To: <sip:15551234567@edge.invalid>;tag=${toTag}\r\n` +
    `From: <sip:alice@edge.invalid>;tag=${c.fromTag}\r\n` +
    `Call-ID: ${c.callId}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`);
  return c;
}

// The edge's BYE for the call, once it came (null after ms); answered 200 as a browser would.
async function byeFor(ws, call, ms) {
  const find = () => ws.messages.find((m) => m.startsWith('BYE ') && m.includes(`Call-ID: ${call.callId}`));
  if (!(await ws.until(() => find() !== undefined, ms))) return null;
  const bye = find();
  const copy = ['Via', 'From', 'To', 'Call-ID', 'CSeq'].map((h) => `${h}: ${header(bye, h)}\r\n`).join('');
  ws.send(`SIP/2.0 200 OK\r\n${copy}Content-Length: 0\r\n\r\n`);
  return bye;
}

async function until(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await sleep(50);
  }
  return pred();
}

test('trunk killed mid-call: BYE to the browser within the bound, then 503 at once, then up again', async (t) => {
  // sipp (-aa) answers each keep-alive as a call of its own: -m leaves room for them.
  let sipp = await startSipp('answer', { timeoutSeconds: 60, calls: 1000 });
  t.after(() => sipp.stop());
  const trunkPort = sipp.port;
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--trunk', `udp:127.0.0.1:${trunkPort}`,
    '--trunk-ping', '1', '--trunk-ping-failures', '2', '--call-ping', '2'], { logLevel: 'info' });
  t.after(() => edge.stop());
  const ws = await connect(edge.port);
  t.after(() => ws.destroy());

  const call = await connectCall(ws).catch((e) => {
    throw new Error(`${e.message}\n${sipp.describe()}\nedge log:\n${edge.log().slice(-3000)}`);
  });
  // The call is checked in its dialog and the trunk is pinged out of any: sipp (-aa) answers both.
  const inDialog = (m) => m.headers.some((h) => h.name === 'to' && /tag=/.test(h.value));
  assert.ok(await until(() => sipp.requests('OPTIONS').some(inDialog), 5000), 'an in-dialog OPTIONS reached the trunk');
  assert.ok(sipp.requests('OPTIONS').some((m) => !inDialog(m)), 'a keep-alive reached the trunk');
  assert.equal(await byeFor(ws, call, 500), null, 'the call stays up while the trunk answers');
  assert.equal(await metric(edge, 'webtrunk_trunks_down'), 0);

  process.kill(sipp.pid, 'SIGKILL');
  const killed = Date.now();
  // Bound: --call-ping (2 s) until the next in-dialog OPTIONS, whose ICMP port unreachable ends it.
  const bye = await byeFor(ws, call, 6000);
  assert.ok(bye, `no BYE to the browser within 6 s of kill -9; edge log:\n${edge.log().slice(-2000)}`);
  const took = Date.now() - killed;
  assert.ok(took < 3500, `BYE ${took} ms after kill -9 (bound: --call-ping 2 s + ~1 s)`);
  t.diagnostic(`BYE to the browser ${took} ms after kill -9 of the trunk`);
  assert.equal(header(bye, 'Reason'), 'SIP;cause=408;text="Trunk not answering"');
  assert.ok(await until(() => edge.log().includes('end_reason\\":\\"trunk not answering'), 2000), 'the CDR says why');
  assert.equal(await metric(edge, 'webtrunk_calls_trunk_lost_total'), 1);

  // Keep-alives every second, down after two failures: new calls are refused at once.
  assert.ok(await until(async () => (await metric(edge, 'webtrunk_trunks_down')) === 1, 5000), 'trunk marked down');
  assert.match(edge.log(), /"trunk\.down"/);
  const c2 = sipInvite('alice');
  const sent = Date.now();
  ws.send(c2.text);
  const final = () => ws.messages.find((m) => /^SIP\/2\.0 [3-6]\d\d /.test(m) && m.includes(`Call-ID: ${c2.callId}`));
  assert.ok(await ws.until(() => final() !== undefined, 2000), 'an answer to the call after the trunk died');
  const refusedIn = Date.now() - sent;
  assert.ok(refusedIn < 500, `answered after ${refusedIn} ms`);
  t.diagnostic(`call toward the down trunk answered 503 in ${refusedIn} ms; down ${Date.now() - killed} ms after kill -9`);
  assert.equal(final().split('\r\n')[0], 'SIP/2.0 503 Service Unavailable: trunk not answering');
  assert.equal(header(final(), 'Retry-After'), '1');
  assert.equal(await metric(edge, 'webtrunk_calls_refused_trunk_down_total'), 1);

  // The trunk comes back on the same port: the first answered keep-alive marks it up.
  sipp = await startSipp('answer', { port: trunkPort, timeoutSeconds: 60, calls: 1000 });
  assert.ok(await until(async () => (await metric(edge, 'webtrunk_trunks_down')) === 0, 5000), 'trunk marked up again');
  assert.match(edge.log(), /"trunk\.up"/);
});

test('echo-trunk on SIGTERM sends BYE for its calls and exits 0', async (t) => {
  const port = await freeUdpPorts(1);
  const echo = spawn(BIN, ['echo-trunk', '--listen', `127.0.0.1:${port}`, '--ring-ms', '0', '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  echo.stdout.on('data', (d) => (log += d));
  echo.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => echo.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(() => { if (echo.exitCode === null && echo.signalCode === null) echo.kill('SIGKILL'); });
  assert.ok(await until(() => /echo\.listen/.test(log), 5000), `echo trunk up: ${log}`);
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--trunk', `udp:127.0.0.1:${port}`,
    '--trunk-ping', '0', '--call-ping', '0'], { logLevel: 'info' });
  t.after(() => edge.stop());
  const ws = await connect(edge.port);
  t.after(() => ws.destroy());

  const call = await connectCall(ws);
  echo.kill('SIGTERM');
  const bye = await byeFor(ws, call, 3000);
  assert.ok(bye, `no BYE to the browser after the echo trunk's SIGTERM; echo log:\n${log}`);
  let timer;
  const r = await Promise.race([exited, new Promise((res) => { timer = setTimeout(() => res(null), 5000); })]);
  clearTimeout(timer);
  assert.deepEqual(r, { code: 0, signal: null }, `echo trunk exit; log:\n${log}`);
  assert.match(log, /"echo\.bye_sent".*why=shutting down/);
  assert.match(log, /"echo\.shutdown".*phase=done unanswered_byes=0/);
  assert.ok(await until(() => edge.log().includes('end_reason\\":\\"trunk hung up'), 2000), 'the edge wrote the CDR');
});
