// Media through the edge with real peers on loopback (issue 4): JsSIP in headless Chromium (fake
// audio device) calls through `webtrunk edge` to sipp as the trunk with -rtp_echo. The trunk's SDP
// names a small UDP relay (lib/rtp_relay.js) in front of sipp's echo, so the test also sees the
// plain RTP and RFC 4733 events that reach the trunk (sipp cannot show RTP contents).
//
//   (a) the call connects and the browser's getStats shows inbound audio >= 90% of what it sent
//       over 5 s, once per SRTP profile (--srtp-profiles X; getStats' srtpCipher must be X);
//   (b) DTMF keyed in JsSIP (SIP INFO) reaches the trunk as RFC 4733 (its payload type, the digit);
//   (c) the tab gone mid-call without a BYE (its WebSocket frozen open, lib/tcp_relay.js freeze())
//       -> the trunk gets BYE within 35 s (default 30 s consent freshness);
//   (d) ringing with early media (183 + SDP, echo, 200 after 4 s) -> inbound audio before the 200,
//       and the 200 carries the same SDP as the 183.
//
// VERBOSE=1 prints each case's JsSIP events, SIP traces and relay counts; KEEP_LOGS=1 keeps sipp's
// temp directory.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { useSharedBrowser } = require('./lib/browser');
const {
  withMediaCall: withCall, statsUntil, received, connectWithAudio, measure, hangUpCleanly, assertDtmfAtTrunk, TARGET,
  TRUNK_DTMF_PT,
} = require('./lib/media_call');

// getStats' srtpCipher names the profile the way Chromium's stats do.
const CHROMIUM_CIPHER = {
  AEAD_AES_256_GCM: 'SRTP_AEAD_AES_256_GCM',
  AEAD_AES_128_GCM: 'SRTP_AEAD_AES_128_GCM',
  AES_CM_128_HMAC_SHA1_80: 'SRTP_AES128_CM_HMAC_SHA1_80',
};

const shared = useSharedBrowser();
// A JsSIP page that does not register (the call is what matters here): lib/media_call.js.
const withMediaCall = (scenario, opts, body) => withCall(shared, scenario, opts, body);

describe('media through the edge: Chromium (JsSIP) <-> webtrunk edge <-> sipp -rtp_echo', { timeout: 200000 }, () => {
  for (const profile of ['AEAD_AES_256_GCM', 'AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80']) {
    it(`${profile}: the call connects and >= 90% of the audio sent comes back over 5 s`, { timeout: 30000 }, async () => {
      await withMediaCall('answer-media', { edgeArgs: ['--srtp-profiles', profile] }, async (r) => {
        const up = await connectWithAudio(r.caller);
        assert.equal(up.transport.srtpCipher, CHROMIUM_CIPHER[profile], `SRTP cipher: ${JSON.stringify(up.transport)}`);
        const m = await measure(r.caller, 5000);
        console.log(`# ${profile}: sent ${m.sent}, received ${m.received} packets in 5 s (${(100 * m.received / m.sent).toFixed(1)}%)`);
        assert.ok(m.sent >= 200, `the browser sent audio (50 packets/s): ${m.sent}`);
        assert.ok(m.received >= 0.9 * m.sent, `received ${m.received} >= 90% of sent ${m.sent}`);
        // What the trunk got is plain RTP with its own payload numbers (PCMU 0 or PCMA 8).
        const pkts = r.rtp.packets();
        assert.ok(pkts.length >= m.sent, `the trunk got plain RTP: ${JSON.stringify(r.rtp.counts())}`);
        const pts = new Set(pkts.map((p) => p.pt));
        assert.ok([...pts].every((pt) => pt === 0 || pt === 8 || pt === TRUNK_DTMF_PT), `trunk payload types ${[...pts]}`);
        assert.equal(r.rtp.counts().notRtp, 0, 'nothing but RTP reached the trunk (no SRTP, no STUN, no DTLS)');
        await hangUpCleanly(r);
      });
    });
  }

  it('DTMF keyed in JsSIP (SIP INFO) reaches the trunk as RFC 4733 events', { timeout: 30000 }, async () => {
    await withMediaCall('answer-media', {}, async (r) => {
      await connectWithAudio(r.caller);
      const dtmf = await assertDtmfAtTrunk(r, ['5', '#'], [5, 11]);
      // The audio stream around the events is one gap-free sequence at the trunk.
      const ssrc = dtmf[0].ssrc;
      const seqs = r.rtp.packets().filter((p) => p.ssrc === ssrc).map((p) => p.seq);
      let gaps = 0;
      for (let i = 1; i < seqs.length; i++) if (((seqs[i] - seqs[i - 1]) & 0xffff) !== 1) gaps++;
      assert.ok(gaps <= 2, `sequence numbers at the trunk continue across the events (${gaps} jumps)`);
      await hangUpCleanly(r);
    });
  });

  it('the tab gone mid-call without a BYE: the trunk gets BYE within 35 s (ICE consent)', { timeout: 60000 }, async () => {
    await withMediaCall('answer-media', { wsRelay: true, sippTimeout: 60 }, async (r) => {
      await connectWithAudio(r.caller);
      const t0 = Date.now();
      assert.equal(r.relay.freeze(), 1, 'the WebSocket frozen open: the edge hears nothing of the tab closing');
      await r.caller.page.close();
      const bye = await r.sipp.waitFor((m) => m.method === 'BYE', 37000);
      const s = (Date.now() - t0) / 1000;
      assert.ok(bye, 'the trunk got BYE');
      console.log(`# BYE reached the trunk ${s.toFixed(1)} s after the tab closed; Reason: ${bye.get('reason')}`);
      assert.ok(s <= 35, `within 35 s (took ${s.toFixed(1)} s)`);
      assert.ok(s >= 20, `by consent freshness, not by the WebSocket (took ${s.toFixed(1)} s)`);
      assert.match(bye.get('reason') || '', /consent/i, 'the BYE says why');
      assert.deepEqual(await r.sipp.waitExit(5000), { code: 0, signal: null }, 'sipp answered the BYE');
    });
  });

  it('ringing with early media: audio reaches the browser before the 200, which has the 183\'s SDP', { timeout: 30000 }, async () => {
    await withMediaCall('early-media', {}, async (r) => {
      await r.caller.call(TARGET);
      const progress = await r.caller.waitFor(['progress', 'failed'], 8000);
      assert.equal(progress.type, 'progress', JSON.stringify(progress));
      assert.equal(progress.status, 183);
      const early = await statsUntil(r.caller, (s) => received(s) >= 25, 3500, 'early audio (25 packets) before the 200');
      const answered = (await r.caller.events()).some((e) => e.type === 'accepted' || e.type === 'confirmed');
      const trunk200 = r.sipp.sent().some((m) => m.status === 200);
      console.log(`# early media: ${received(early)} packets received while ringing (200 sent by the trunk: ${trunk200})`);
      assert.ok(!answered && !trunk200, 'the audio came while the trunk was still ringing');
      const outcome = await r.caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      const sdp = await r.caller.sdp();
      assert.equal(sdp.remotes.length, 2, 'SDP in the 183 and in the 200');
      assert.equal(sdp.remotes[1], sdp.remotes[0], 'the 200 carries the same SDP as the 183 (same o= version)');
      const m = await measure(r.caller, 1000);
      assert.ok(m.received > 0.8 * m.sent, `audio keeps flowing after the 200: ${m.received}/${m.sent}`);
      await hangUpCleanly(r);
    });
  });
});
