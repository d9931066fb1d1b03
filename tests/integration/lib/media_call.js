// One call with media through the edge, for the suites that check audio (media_call, sipjs_call,
// early_answer): sipp with -rtp_echo behind lib/rtp_relay.js as the trunk, the real edge, and a
// fresh caller page (JsSIP or SIP.js) in the shared Chromium; plus the getStats measures they share.
'use strict';
const assert = require('node:assert/strict');
const { startSipEdge, ephemeralToken } = require('./sip_edge');
const { startSipp, freeUdpPorts } = require('./sipp');
const { startRtpRelay } = require('./rtp_relay');
const { startTcpRelay } = require('./tcp_relay');
const { openCaller } = require('./browser');
const { metric } = require('./edge');
const { withContext, tail } = require('./report');

const SECRET = 'edge-test-secret';
const CALLER_URI = 'sip:alice@edge.test';
const TARGET = 'sip:15551230000@edge.test';
const TRUNK_DTMF_PT = 101;  // telephone-event in the sipp scenarios that do not copy the edge's
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One case: sipp (`scenario`, -rtp_echo) behind an RTP relay as the trunk, the edge (extra flags
// `edgeArgs`, optionally behind a TCP relay for the WebSocket, or reached at `wsUrl`), a fresh caller page for `client`
// ('jssip' or 'sipjs') that registers only when `register`. `shared` is lib/browser.js's
// useSharedBrowser(). Everything is stopped whatever happens; a failure carries the browser's events,
// both SIP traces, the relay's counts and the edge's log. sippCalls: sipp's -m. routes(sipp): the
// edge gets a --routes file with that content instead of --trunk.
async function withMediaCall(shared, scenario, opts, body) {
  const {
    client = 'jssip', edgeArgs = [], wsRelay = false, sippTimeout = 30, sippCalls = 1, register = false, wsUrl = null,
    routes = null,
  } = opts;
  const echoPort = await freeUdpPorts(3);
  const rtp = await startRtpRelay({ echoPort, dtmfPt: TRUNK_DTMF_PT });
  let sipp, edge, relay, caller;
  try {
    sipp = await startSipp(scenario, {
      mediaPort: echoPort, timeoutSeconds: sippTimeout, calls: sippCalls,
      extraArgs: ['-rtp_echo', '-key', 'rtp_port', String(rtp.port)],
    });
    edge = await startSipEdge({ trunkPort: sipp.port, secrets: [SECRET], extraArgs: edgeArgs,
      routes: routes ? routes(sipp) : undefined });
    if (wsRelay) relay = await startTcpRelay(edge.port);
    caller = await openCaller(shared.browser, shared.pageServer.pageUrl(client));
    const cred = ephemeralToken({ user: 'alice', secret: SECRET });
    await caller.start({ wsUrl: wsUrl || (relay ? relay.url : edge.url), uri: CALLER_URI, authUser: cred.username,
      password: cred.password, register });
    await body({ sipp, edge, relay, caller, rtp });
    if (process.env.VERBOSE) {
      console.log(`${await caller.describe()}\n${sipp.describe()}\nrelay: ${JSON.stringify(rtp.counts())}`.replace(/^/gm, '# '));
    }
  } catch (e) {
    const parts = [];
    if (caller) parts.push(await caller.describe());
    if (sipp) parts.push(sipp.describe());
    parts.push(`trunk RTP relay: ${JSON.stringify(rtp.counts())}`);
    if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
    throw withContext(e, parts);
  } finally {
    if (caller) await caller.close();
    if (relay) await relay.close();
    if (edge) await edge.stop();
    if (sipp) await sipp.stop();
    await rtp.close();
  }
}

// Polls getStats until `pred(stats)` holds; the last stats, or throws after timeoutMs.
async function statsUntil(caller, pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let s;
  for (;;) {
    s = await caller.stats();
    if (s && pred(s)) return s;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms; last stats ${JSON.stringify(s)}`);
    await sleep(200);
  }
}
const received = (s) => (s && s.inbound ? s.inbound.packetsReceived || 0 : 0);
const sent = (s) => (s && s.outbound ? s.outbound.packetsSent || 0 : 0);

// Calls and waits until it is confirmed, DTLS is connected and (unless `audio` is false: a case
// about signalling) audio comes back; returns the stats then.
async function connectWithAudio(caller, { target = TARGET, answerMs = 10000, audio = true } = {}) {
  await caller.call(target);
  const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], answerMs);
  assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
  return statsUntil(caller, (s) => s.transport && s.transport.dtlsState === 'connected' && (!audio || received(s) > 0), 8000,
    audio ? 'DTLS connected and audio received' : 'DTLS connected');
}

// The SDP the browser got on its WebSocket for its call: the answers in 18x responses (`early`) and
// in the 2xx (`final`) to its initial INVITE, and the in-dialog INVITEs it received (`reinvites`,
// parsed messages, with `t` the time they arrived), with the index of each in the trace.
async function answersSeen(caller) {
  const sip = await caller.sip();
  const invites = sip.filter((s) => s.dir === 'out' && s.msg.method === 'INVITE' && !s.msg.tag('to'));
  const cseq = invites.length ? invites[invites.length - 1].msg.cseq().seq : -1;
  const toInitial = (s) => s.dir === 'in' && s.msg.status && s.msg.cseq().method === 'INVITE' && s.msg.cseq().seq === cseq;
  const early = sip.filter((s) => toInitial(s) && s.msg.status > 100 && s.msg.status < 200 && s.msg.body.trim());
  const final = sip.find((s) => toInitial(s) && s.msg.status >= 200 && s.msg.status < 300);
  const reinvites = sip.filter((s) => s.dir === 'in' && s.msg.method === 'INVITE');
  return {
    early: early.map((s) => ({ status: s.msg.status, sdp: s.msg.body, t: s.t })),
    final: final ? { status: final.msg.status, sdp: final.msg.body, t: final.t } : null,
    reinvites: reinvites.map((s) => Object.assign(s.msg, { t: s.t })),
  };
}

// The o= line and the m=audio line of an SDP, for messages.
const sdpGist = (sdp) => (sdp || '').split(/\r?\n/).filter((l) => /^(o=|m=audio)/.test(l)).join(' | ');

// Asserts that the 2xx repeats the 18x answer byte for byte (RFC 3261 §13.2.1: the answer of a
// dialog is the first one; SIP.js keeps it), when there was one.
function assertSameAnswer(answers) {
  assert.ok(answers.final, 'the browser got a 2xx for its INVITE');
  for (const e of answers.early) {
    assert.equal(answers.final.sdp, e.sdp,
      `the 200 repeats the ${e.status}'s answer (same o= version): ${e.status} [${sdpGist(e.sdp)}] vs 200 [${sdpGist(answers.final.sdp)}]`);
  }
}

// Over `ms`: audio packets the browser sent and received (getStats deltas), and, with the trunk's
// RTP relay `rtp`, the RTP packets that reached the trunk.
async function measure(caller, ms, rtp = null) {
  const s0 = await caller.stats();
  const t0 = rtp ? rtp.counts().fromEdge : 0;
  await sleep(ms);
  const s1 = await caller.stats();
  return { sent: sent(s1) - sent(s0), received: received(s1) - received(s0), atTrunk: rtp ? rtp.counts().fromEdge - t0 : null, stats: s1 };
}

// Asserts that over `ms` the browser sent audio (50 packets/s), >= 90% of it came back, and, with
// `rtp`, >= 90% of it reached the trunk. Logs the figures under `label`; returns the measure.
async function assertAudioBothWays(caller, ms, label, rtp = null) {
  const m = await measure(caller, ms, rtp);
  const pct = (n) => (m.sent ? (100 * n / m.sent).toFixed(1) : '-');
  console.log(`# ${label}: sent ${m.sent}, received ${m.received} (${pct(m.received)}%)` +
    (rtp ? `, at the trunk ${m.atTrunk} (${pct(m.atTrunk)}%)` : '') + ` packets in ${ms / 1000} s`);
  assert.ok(m.sent >= (ms / 20) * 0.8, `the browser sent audio (50 packets/s): ${m.sent} in ${ms} ms`);
  assert.ok(m.received >= 0.9 * m.sent, `received ${m.received} >= 90% of sent ${m.sent}`);
  if (rtp) assert.ok(m.atTrunk >= 0.9 * m.sent, `the trunk got ${m.atTrunk} >= 90% of sent ${m.sent}`);
  return m;
}

// The DTMF digits `digits` (two, a string each) keyed in the page (SIP INFO, application/dtmf-relay)
// reach the trunk as RFC 4733 events `events` on its telephone-event payload type: in order, the
// marker on an event's first packet, one timestamp per event, growing durations, the E bit; the
// edge answered each INFO 200 and relayed none. Returns the RFC 4733 packets the trunk got.
async function assertDtmfAtTrunk({ caller, rtp, sipp }, digits, events) {
  for (const d of digits) {
    await caller.sendDTMF(d);
    await sleep(1500);
  }
  const dtmf = rtp.dtmf();
  const seen = [...new Set(dtmf.map((p) => p.event))];
  console.log(`# RFC 4733 at the trunk: ${dtmf.length} packets, events ${seen}, end bits ${dtmf.filter((p) => p.end).length}`);
  assert.deepEqual(seen, events, `digits ${digits} as events ${events}, on the trunk's telephone-event payload type`);
  for (const ev of events) {
    const of = dtmf.filter((p) => p.event === ev);
    assert.ok(of[0].marker, 'the first packet of an event has the marker bit');
    assert.ok(of.some((p) => p.end), `event ${ev} ends (E bit)`);
    assert.ok(new Set(of.map((p) => p.ts)).size === 1, 'one timestamp per event');
    assert.ok(of[of.length - 1].duration >= of[0].duration, 'durations grow');
  }
  const infoOk = (await caller.sip()).filter((s) => s.dir === 'in' && s.msg.status === 200 && s.msg.cseq().method === 'INFO');
  assert.equal(infoOk.length, digits.length, 'the browser got 200 for each INFO');
  assert.equal(sipp.requests('INFO').length, 0, 'no INFO reached the trunk');
  return dtmf;
}

// The browser hangs up; the trunk got BYE and sipp ended its scenario; the edge holds no media session.
async function hangUpCleanly({ caller, sipp, edge }, { waitSippExit = true } = {}) {
  await caller.hangup();
  assert.ok(await sipp.waitFor((m) => m.method === 'BYE', 3000), 'the trunk got BYE');
  if (waitSippExit) assert.deepEqual(await sipp.waitExit(5000), { code: 0, signal: null }, 'sipp completed its scenario');
  let active;
  for (let i = 0; i < 20 && active !== 0; i++) {
    active = await metric(edge, 'webtrunk_media_sessions_active');
    if (active !== 0) await sleep(100);
  }
  assert.equal(active, 0, 'every media session released');
}

module.exports = {
  withMediaCall, statsUntil, received, sent, connectWithAudio, measure, assertAudioBothWays, hangUpCleanly,
  answersSeen, assertSameAnswer, sdpGist, assertDtmfAtTrunk,
  SECRET, TARGET, TRUNK_DTMF_PT, sleep,
};
