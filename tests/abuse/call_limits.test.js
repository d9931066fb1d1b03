// One caller cannot take the whole edge (README "Limits"): against the real binary on loopback, a
// token id over --max-calls-per-token gets 403 "Forbidden: too many calls for this account" and the
// trunk never hears of the call; another caller still gets through. The trunk is a UDP socket that
// receives INVITEs and never answers, so the admitted calls stay ringing (they hold their place).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { startEdge, metric } = require('../integration/lib/edge');
const { connect, sipInvite: invite } = require('./lib/raw_ws');

// The final (or 100) answer to a Call-ID on this connection.
async function answerTo(ws, callId, ms = 3000) {
  const find = () => ws.messages.find((m) => m.startsWith('SIP/2.0') && m.includes(`Call-ID: ${callId}`));
  assert.ok(await ws.until(() => find() !== undefined, ms), `an answer to ${callId}`);
  return find().split('\r\n')[0];
}

test('a caller over --max-calls-per-token gets 403 and the trunk never sees the call', async (t) => {
  const trunk = dgram.createSocket('udp4');
  const invites = new Set();
  trunk.on('message', (buf) => {
    const s = buf.toString('utf8');
    const id = s.match(/^Call-ID:\s*(\S+)/mi);
    if (s.startsWith('INVITE ') && id) invites.add(id[1]);
  });
  await new Promise((resolve) => trunk.bind(0, '127.0.0.1', resolve));
  t.after(() => trunk.close());
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', '--max-calls-per-token', '2',
    '--trunk', `udp:127.0.0.1:${trunk.address().port}`]);
  t.after(() => edge.stop());

  const ws = await connect(edge.port);
  t.after(() => ws.destroy());
  const calls = [invite('alice'), invite('alice'), invite('alice')];
  for (const c of calls.slice(0, 2)) {
    ws.send(c.text);
    assert.equal(await answerTo(ws, c.callId), 'SIP/2.0 100 Trying');
  }
  ws.send(calls[2].text);
  assert.equal(await answerTo(ws, calls[2].callId), 'SIP/2.0 403 Forbidden: too many calls for this account');

  // Another caller on another connection is not held by alice's calls.
  const other = await connect(edge.port);
  t.after(() => other.destroy());
  const bob = invite('bob');
  other.send(bob.text);
  assert.equal(await answerTo(other, bob.callId), 'SIP/2.0 100 Trying');

  const deadline = Date.now() + 3000;
  while (invites.size < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  // The trunk leg has Call-IDs of its own (B2BUA): count them.
  assert.equal(invites.size, 3, 'two calls of alice and one of bob reached the trunk, not alice\'s third');
  assert.equal(await metric(edge, 'webtrunk_calls_refused_token_limit_total'), 1);
});
