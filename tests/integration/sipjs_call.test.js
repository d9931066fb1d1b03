// SIP.js 0.21 as the browser client, with real peers on loopback: SIP.js (UserAgent, Registerer,
// Inviter; page/sipjs.html) in headless Chromium with its fake audio device calls through
// `webtrunk edge` to sipp as the trunk with -rtp_echo behind lib/rtp_relay.js (lib/media_call.js).
// SIP.js differs from JsSIP in ways the edge must handle: its own Via/Contact forms, no session
// timer, DTMF only as the app sends it (INFO here), hold by re-INVITE with a=sendonly, and it keeps
// the first SDP answer of a dialog.
//
// VERBOSE=1 prints each case's browser events, SIP traces and relay counts; KEEP_LOGS=1 keeps sipp's
// temp directory.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { useSharedBrowser } = require('./lib/browser');
const {
  withMediaCall, connectWithAudio, assertAudioBothWays, hangUpCleanly, answersSeen, assertSameAnswer, assertDtmfAtTrunk,
  TRUNK_DTMF_PT, sleep,
} = require('./lib/media_call');

const CASE_MS = 40000;
const shared = useSharedBrowser();
const withSipjsCall = (scenario, opts, body) => withMediaCall(shared, scenario, { client: 'sipjs', register: true, ...opts }, body);

// The registration outcome, and the REGISTER answers the browser saw.
async function registered(caller) {
  const reg = await caller.waitFor(['registered', 'registrationFailed'], 8000);
  assert.equal(reg.type, 'registered', JSON.stringify(reg));
  return reg;
}

// The direction attribute of an SDP body (RFC 3264 §5.1: sendrecv when absent).
const direction = (sdp) => ((sdp || '').match(/^a=(sendrecv|sendonly|recvonly|inactive)\s*$/m) || [null, 'sendrecv'])[1];

describe('SIP.js in Chromium <-> webtrunk edge <-> sipp -rtp_echo', { timeout: 170000 }, () => {
  it('register: challenged (401), then registered (200)', { timeout: CASE_MS }, async () => {
    await withSipjsCall('no-invite-expected', {}, async ({ caller, sipp }) => {
      const reg = await registered(caller);
      assert.equal(reg.status, 200);
      const answers = (await caller.sip()).filter((s) => s.dir === 'in' && s.msg.cseq().method === 'REGISTER').map((s) => s.msg);
      assert.equal(answers[0].status, 401, 'the first REGISTER is challenged');
      assert.match(answers[0].get('www-authenticate') || '', /^Digest /);
      assert.equal(answers[answers.length - 1].status, 200);
      assert.equal(sipp.received().length, 0, 'nothing reached the trunk');
    });
  });

  it('call: the 200 repeats the 180\'s answer, >= 90% of the audio comes back and reaches the trunk', { timeout: CASE_MS }, async () => {
    await withSipjsCall('answer-media', {}, async (r) => {
      await registered(r.caller);
      await connectWithAudio(r.caller, { audio: false });
      // SIP.js needed the 407 challenge for its INVITE and got the edge's answer.
      const sip = await r.caller.sip();
      const inviteAnswers = sip.filter((s) => s.dir === 'in' && s.msg.status && s.msg.cseq().method === 'INVITE').map((s) => s.msg.status);
      assert.ok(inviteAnswers.includes(407), `the first INVITE is challenged: ${inviteAnswers}`);
      assert.ok(inviteAnswers.includes(200), `answered: ${inviteAnswers}`);
      // SIP.js applies the first answer it gets (in the 180 here) and ignores another in the 200.
      assertSameAnswer(await answersSeen(r.caller));
      await assertAudioBothWays(r.caller, 5000, 'SIP.js call', r.rtp);
      const pts = new Set(r.rtp.packets().map((p) => p.pt));
      assert.ok([...pts].every((pt) => pt === 0 || pt === 8 || pt === TRUNK_DTMF_PT), `trunk payload types ${[...pts]}`);
      await hangUpCleanly(r);
    });
  });

  it('browser hangs up: the trunk gets BYE and answers it, the session ends on the local side', { timeout: CASE_MS }, async () => {
    await withSipjsCall('answer-media', {}, async (r) => {
      await registered(r.caller);
      await connectWithAudio(r.caller, { audio: false });
      await hangUpCleanly(r);
      const ended = await r.caller.waitFor(['ended'], 3000);
      assert.equal(ended.originator, 'local', JSON.stringify(ended));
    });
  });

  it('hold (re-INVITE a=sendonly) and resume (a=sendrecv) reach the trunk; the audio comes back after resume', { timeout: CASE_MS }, async () => {
    await withSipjsCall('hold-resume', {}, async (r) => {
      await registered(r.caller);
      await connectWithAudio(r.caller, { audio: false });
      const trunkInvites = () => r.sipp.requests('INVITE');

      assert.equal(await r.caller.hold(true), 200, 'the hold re-INVITE is answered 200');
      const heldOffer = await r.sipp.waitFor((m) => m.method === 'INVITE' && m.tag('to'), 5000);
      assert.ok(heldOffer, 'the trunk got a re-INVITE');
      const trunkTag = r.sipp.sent().find((m) => m.status === 200 && m.cseq().method === 'INVITE').tag('to');
      assert.equal(heldOffer.tag('to'), trunkTag, 'in the trunk dialog');
      assert.ok(['sendonly', 'inactive'].includes(direction(heldOffer.body)), `the trunk's re-INVITE holds: a=${direction(heldOffer.body)}`);
      const browserHold = (await r.caller.sip()).filter((s) => s.dir === 'out' && s.msg.method === 'INVITE').pop().msg;
      assert.ok(['sendonly', 'inactive'].includes(direction(browserHold.body)), `SIP.js offered a=${direction(browserHold.body)}`);
      await sleep(1000);

      assert.equal(await r.caller.hold(false), 200, 'the resume re-INVITE is answered 200');
      const deadline = Date.now() + 5000;
      while (trunkInvites().length < 3 && Date.now() < deadline) await sleep(50);
      assert.equal(trunkInvites().length, 3, 'the trunk got a second re-INVITE');
      assert.equal(direction(trunkInvites()[2].body), 'sendrecv', 'the trunk\'s re-INVITE resumes');
      console.log(`# trunk re-INVITEs: a=${direction(trunkInvites()[1].body)}, then a=${direction(trunkInvites()[2].body)}`);
      await sleep(500);
      await assertAudioBothWays(r.caller, 3000, 'after resume', r.rtp);
      await hangUpCleanly(r);
    });
  });

  it('DTMF sent by SIP.js as INFO (application/dtmf-relay) reaches the trunk as RFC 4733 events', { timeout: CASE_MS }, async () => {
    await withSipjsCall('answer-media', {}, async (r) => {
      await registered(r.caller);
      await connectWithAudio(r.caller, { audio: false });
      await assertDtmfAtTrunk(r, ['7', '*'], [7, 10]);
      await hangUpCleanly(r);
    });
  });

  it('trunk hangs up: the SIP.js session ends (BYE from the remote side)', { timeout: CASE_MS }, async () => {
    await withSipjsCall('answer-then-hangup', {}, async (r) => {
      await registered(r.caller);
      await r.caller.call('sip:15551230000@edge.test');
      const up = await r.caller.waitFor(['confirmed', 'failed'], 10000);
      assert.equal(up.type, 'confirmed', JSON.stringify(up));
      const ended = await r.caller.waitFor(['ended'], 8000);
      assert.equal(ended.type, 'ended', 'the session ended');
      assert.equal(ended.originator, 'remote');
      assert.equal(ended.method, 'BYE');
      assert.deepEqual(await r.sipp.waitExit(5000), { code: 0, signal: null }, 'sipp got 200 for its BYE');
    });
  });

  it('WebSocket closed mid-call: the trunk gets BYE within 2 s', { timeout: CASE_MS }, async () => {
    await withSipjsCall('answer-media', {}, async (r) => {
      await registered(r.caller);
      await connectWithAudio(r.caller, { audio: false });
      const t0 = Date.now();
      assert.ok(await r.caller.dropWebSocket(), 'the WebSocket was open');
      const bye = await r.sipp.waitFor((m) => m.method === 'BYE', 4000);
      assert.ok(bye, 'the trunk got BYE');
      const ms = Date.now() - t0;
      console.log(`# BYE reached the trunk ${ms} ms after the WebSocket was closed`);
      assert.ok(ms <= 2000, `BYE within 2 s (took ${ms} ms)`);
      assert.deepEqual(await r.sipp.waitExit(5000), { code: 0, signal: null }, 'sipp answered the BYE');
    });
  });
});
