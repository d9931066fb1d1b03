// One account cannot starve another of RTP ports (README "RTP ports"): against the real binary with
// two shards in --trunk-rtp-mode per-call (the mode that takes a port pair per call; the shared default
// takes none) and --rtp-ports of 8 pairs (4 per shard), one caller's calls on one WebSocket (so on one
// shard) take 6 pairs, borrowing 2 from the other shard's slice; another caller still gets a call, and
// only the ninth call, with the whole range taken, gets "503 Media ports exhausted". The trunk is a UDP
// socket that never answers, so every admitted call stays ringing and holds its pair.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { startEdge, metric } = require('../integration/lib/edge');
const { connect, sipInvite } = require('./lib/raw_ws');

async function answerTo(ws, callId, ms = 3000) {
  const find = () => ws.messages.find((m) => m.startsWith('SIP/2.0') && m.includes(`Call-ID: ${callId}`));
  assert.ok(await ws.until(() => find() !== undefined, ms), `an answer to ${callId}`);
  return find().split('\r\n')[0];
}

test('a shard with its RTP slice used up borrows from the other shard; another account still gets a call', async (t) => {
  const trunk = dgram.createSocket('udp4');
  await new Promise((resolve) => trunk.bind(0, '127.0.0.1', resolve));
  t.after(() => trunk.close());
  // Below the kernel's ephemeral ports, apart per process: pairs someone else holds would be skipped.
  const base = 12000 + (process.pid % 500) * 32;
  const edge = await startEdge(['--shards', '2', '--no-auth', '--sip-port', '0', '--rtp-ports', `${base}-${base + 15}`,
    '--trunk-ping', '0', '--trunk-rtp-mode', 'per-call', '--trunk', `udp:127.0.0.1:${trunk.address().port}`]);
  t.after(() => edge.stop());

  const alice = await connect(edge.port);
  t.after(() => alice.destroy());
  for (let i = 0; i < 6; i++) {
    const c = sipInvite('alice');
    alice.send(c.text);
    assert.equal(await answerTo(alice, c.callId), 'SIP/2.0 100 Trying', `alice's call ${i + 1}`);
  }
  assert.equal(await metric(edge, 'webtrunk_media_ports_borrowed_total'), 2);

  const bob = await connect(edge.port);
  t.after(() => bob.destroy());
  const b = sipInvite('bob');
  bob.send(b.text);
  assert.equal(await answerTo(bob, b.callId), 'SIP/2.0 100 Trying', 'bob is not starved by alice');

  // Seven pairs taken, one left somewhere: the eighth call gets it, the ninth finds none.
  const c8 = sipInvite('alice');
  alice.send(c8.text);
  assert.equal(await answerTo(alice, c8.callId), 'SIP/2.0 100 Trying');
  const c9 = sipInvite('alice');
  alice.send(c9.text);
  assert.equal(await answerTo(alice, c9.callId), 'SIP/2.0 503 Media ports exhausted');
  assert.equal(await metric(edge, 'webtrunk_calls_refused_no_media_total'), 1);
});
