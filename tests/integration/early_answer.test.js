// The answer a browser gets while the trunk rings, and what the edge does when the trunk's answer
// differs from it, with both JsSIP and SIP.js in headless Chromium (lib/media_call.js: sipp with
// -rtp_echo behind lib/rtp_relay.js as the trunk). The edge picks one codec from the browser's offer
// (--codecs, default PCMU,PCMA) before the trunk INVITE and offers the trunk only that codec and
// telephone-event, so the 18x answer can be final; RFC 3261 §13.2.1 makes the first answer of a
// dialog its answer, and SIP.js applies it whatever the 200 says.
//
//   (a) early-answer-183: the trunk's 183 carries SDP (the codec offered), its 200 the same SDP ->
//       the browser gets a 183 with the answer and a 200 that repeats it; audio >= 90% both ways;
//   (b) ring-then-pcma: the trunk rings without SDP (180), then its 200 answers PCMA, which the edge
//       did not offer it (it offered PCMU) but the browser did -> the browser's 200 repeats its 18x
//       answer unchanged, then the edge re-INVITEs the browser with PCMA; audio >= 90% both ways
//       counted from after that re-INVITE, PCMA at the trunk;
//   (c) reject-first-offer: the trunk answers 488 to the first INVITE and 200 to the next, which
//       offers another codec (failover) -> the call connects with audio;
//   (d) reject-every-offer: the trunk answers 488 to each codec -> the browser gets 488 with a
//       reason that says why.
//
// VERBOSE=1 prints each case's browser events, SIP traces and relay counts; KEEP_LOGS=1 keeps sipp's
// temp directory.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { useSharedBrowser } = require('./lib/browser');
const {
  withMediaCall, statsUntil, received, connectWithAudio, assertAudioBothWays, hangUpCleanly, answersSeen,
  assertSameAnswer, sdpGist, TARGET, sleep,
} = require('./lib/media_call');

const CASE_MS = 40000;
const shared = useSharedBrowser();

// The payload types of an SDP's m=audio line, and the encoding of each (a=rtpmap, or RFC 3551's
// static PCMU 0, PCMA 8, G722 9).
function codecs(sdp) {
  const m = (sdp || '').match(/^m=audio \d+ \S+ ([\d ]+)\s*$/m);
  const names = { 0: 'PCMU', 8: 'PCMA', 9: 'G722' };
  for (const r of (sdp || '').matchAll(/^a=rtpmap:(\d+) ([^/\s]+)/gm)) names[r[1]] = r[2];
  return m ? m[1].trim().split(/\s+/).map((pt) => ({ pt: Number(pt), name: names[pt] || '?' })) : [];
}
const audioCodecs = (sdp) => codecs(sdp).filter((c) => !/telephone-event|CN/i.test(c.name)).map((c) => c.name);

// Waits until `pred()` holds (polling), or fails with `what` after timeoutMs.
async function until(pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

for (const client of ['jssip', 'sipjs']) {
  const withCall = (scenario, opts, body) => withMediaCall(shared, scenario, { client, ...opts }, body);

  describe(`${client}: the early answer is the answer`, { timeout: 130000 }, () => {
    it('(a) trunk 183 with SDP, then 200 with the same SDP: the browser\'s 200 repeats its 183, audio both ways', { timeout: CASE_MS }, async () => {
      await withCall('early-answer-183', {}, async (r) => {
        await r.caller.call(TARGET);
        const progress = await r.caller.waitFor(['progress', 'failed'], 8000);
        assert.equal(progress.type, 'progress', JSON.stringify(progress));
        assert.equal(progress.status, 183);
        const offer = r.sipp.requests('INVITE')[0];
        const offered = audioCodecs(offer.body);
        console.log(`# ${client} (a): the trunk was offered ${offered.join(',')}`);
        assert.equal(offered.length, 1, `the trunk is offered one codec: ${sdpGist(offer.body)}`);
        // Early media: the 183's answer is applied and the echo comes back while the trunk rings.
        await statsUntil(r.caller, (s) => received(s) >= 10, 2500, 'early audio (10 packets) while ringing');
        assert.ok(!r.sipp.sent().some((m) => m.status === 200), 'the audio came while the trunk was still ringing');
        const outcome = await r.caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
        assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
        const answers = await answersSeen(r.caller);
        assert.deepEqual(answers.early.map((e) => e.status), [183], 'the browser got one 183 with SDP');
        assertSameAnswer(answers);
        assert.deepEqual(audioCodecs(answers.final.sdp), offered, 'the browser\'s answer has the codec the trunk was offered');
        await assertAudioBothWays(r.caller, 3000, `${client} (a) after the 200`, r.rtp);
        await hangUpCleanly(r);
      });
    });

    it('(b) trunk 180 without SDP, then 200 answering PCMA: the browser\'s 200 repeats its 18x, then a re-INVITE with PCMA, audio both ways', { timeout: CASE_MS }, async () => {
      await withCall('ring-then-pcma', {}, async (r) => {
        await r.caller.call(TARGET);
        const outcome = await r.caller.waitFor(['confirmed', 'failed', 'ended'], 10000);
        assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
        const answers = await answersSeen(r.caller);
        const offered = audioCodecs(r.sipp.requests('INVITE')[0].body);
        console.log(`# ${client} (b): trunk offered ${offered}; browser got ` +
          `${answers.early.map((e) => `${e.status} [${audioCodecs(e.sdp)}]`).join(', ')}, 200 [${audioCodecs(answers.final && answers.final.sdp)}]`);
        assert.deepEqual(offered, ['PCMU'], 'the trunk is offered PCMU alone (so its PCMA answer is another codec)');
        assert.ok(answers.early.length >= 1, 'the browser got the edge\'s early answer in a 18x');
        assert.deepEqual(audioCodecs(answers.early[0].sdp), ['PCMU'], 'the early answer has the codec the edge offered the trunk (PCMU first by default)');
        assertSameAnswer(answers);
        // Then the edge offers the browser the trunk's codec.
        const reinvite = await until(async () => (await answersSeen(r.caller)).reinvites[0], 5000, 'a re-INVITE to the browser');
        assert.ok(reinvite.t >= answers.final.t, 'the re-INVITE comes after the 200');
        assert.deepEqual(audioCodecs(reinvite.body), ['PCMA'], `the re-INVITE offers PCMA: ${sdpGist(reinvite.body)}`);
        await until(async () => (await r.caller.sip()).some((s) => s.dir === 'out' && s.msg.status === 200 && s.msg.cseq().method === 'INVITE'),
          5000, 'the browser answers the re-INVITE 200');
        await sleep(500);
        const sinceReinvite = r.rtp.packets().length;
        await assertAudioBothWays(r.caller, 3000, `${client} (b) after the re-INVITE`, r.rtp);
        const pts = new Set(r.rtp.packets().slice(sinceReinvite).filter((p) => p.event === undefined).map((p) => p.pt));
        assert.deepEqual([...pts], [8], 'the trunk gets PCMA (payload type 8) after the re-INVITE');
        await hangUpCleanly(r);
      });
    });

    it('(c) trunk 488 to the first INVITE, 200 to the next: the call connects with audio', { timeout: CASE_MS }, async () => {
      // -m 2: the retry may be a new sipp call (a new Call-ID); sipp's exit is then not awaited.
      await withCall('reject-first-offer', { sippCalls: 2 }, async (r) => {
        await connectWithAudio(r.caller, { answerMs: 15000 });
        const invites = r.sipp.requests('INVITE');
        const first = invites[0];
        const second = invites.find((m) => m !== first && !m.tag('to'));
        assert.ok(second, `the trunk got a second INVITE: ${invites.map((m) => m.summary()).join(', ')}`);
        console.log(`# ${client} (c): trunk offered ${audioCodecs(first.body)}, then ${audioCodecs(second.body)}`);
        assert.notDeepEqual(audioCodecs(second.body), audioCodecs(first.body), 'the second INVITE offers another codec');
        assert.ok(r.sipp.sent().some((m) => m.status === 488), 'the trunk answered 488 first');
        const failed = (await r.caller.events()).filter((e) => e.type === 'failed');
        assert.equal(failed.length, 0, `the browser saw no failure: ${JSON.stringify(failed)}`);
        assertSameAnswer(await answersSeen(r.caller));
        await assertAudioBothWays(r.caller, 3000, `${client} (c)`, r.rtp);
        await hangUpCleanly(r, { waitSippExit: false });
        await until(() => r.sipp.sent().some((m) => m.status === 200 && m.cseq().method === 'BYE'), 3000, 'the trunk answers the BYE');
      });
    });

    it('(d) trunk 488 to every codec: the browser gets 488 with a reason', { timeout: CASE_MS }, async () => {
      await withCall('reject-every-offer', {}, async (r) => {
        await r.caller.call(TARGET);
        const outcome = await r.caller.waitFor(['confirmed', 'failed', 'ended'], 15000);
        assert.equal(outcome.type, 'failed', JSON.stringify(outcome));
        assert.equal(outcome.status, 488, `the library reports the 488: ${JSON.stringify(outcome)}`);
        const final = (await r.caller.sip()).filter((s) => s.dir === 'in' && s.msg.status >= 300 && s.msg.cseq().method === 'INVITE' &&
          s.msg.status !== 407).pop();
        assert.ok(final, 'the browser got a final answer');
        const invites = r.sipp.requests('INVITE');
        console.log(`# ${client} (d): trunk offered ${invites.map((m) => audioCodecs(m.body)).join(' then ')}; ` +
          `browser got ${final.msg.startLine}`);
        assert.equal(final.msg.status, 488);
        assert.match(final.msg.reason, /^Not Acceptable Here: \S/, 'the reason says why');
        assert.deepEqual(invites.map((m) => audioCodecs(m.body)), [['PCMU'], ['PCMA']], 'each codec offered once, in preference order');
        assert.deepEqual(await r.sipp.waitExit(8000), { code: 0, signal: null }, 'sipp got an ACK for each 488');
      });
    });
  });
}
