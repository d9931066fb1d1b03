// Calls from the trunk to a registered browser (README "Calls to browsers") with real peers on
// loopback: JsSIP and SIP.js (one case each) in headless Chromium register as `agent` and answers whatever rings; sipp, the
// configured trunk, calls sip:agent@<edge> (sipp/call-browser.xml) with an RTP/AVP offer whose
// address is a small relay (lib/rtp_relay.js) in front of sipp's -rtp_echo. The call connects, audio
// goes both ways (the browser gets back >= 90% of what it sent, through the trunk), and the trunk's
// BYE ends it in the browser. With two shards the trunk calls each shard's SIP port in turn: the
// agent's WebSocket is on one of them, so one call at least is coordinated by the other shard
// (edge/shard_note.hpp) and its log says so.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { useSharedBrowser, openCaller } = require('./lib/browser');
const { startSipEdge, ephemeralToken } = require('./lib/sip_edge');
const { startSipp, freeUdpPorts } = require('./lib/sipp');
const { startRtpRelay } = require('./lib/rtp_relay');
const { statsUntil, received, measure, TRUNK_DTMF_PT } = require('./lib/media_call');
const { withContext, tail } = require('./lib/report');

const SECRET = 'edge-test-secret';
const shared = useSharedBrowser();

describe('calls to browsers: sipp (trunk) -> webtrunk edge -> Chromium', { timeout: 90000 }, () => {
  const cases = [
    { client: 'jssip', shards: 1 },
    { client: 'sipjs', shards: 1 },
    { client: 'jssip', shards: 2 },
  ];
  for (const { client, shards } of cases) {
    const title = shards === 1 ? `${client}: a registered agent answers, audio both ways, the trunk hangs up`
      : `${client}, ${shards} shards: the trunk calls each shard, the agent on one of them answers both`;
    it(title, { timeout: 60000 }, async () => {
      const trunkPort = await freeUdpPorts(1);
      const echoPort = await freeUdpPorts(3);
      const rtp = await startRtpRelay({ echoPort, dtmfPt: TRUNK_DTMF_PT });
      let edge, agent, sipp;
      try {
        edge = await startSipEdge({ trunkPort, secrets: [SECRET], shards });
        agent = await openCaller(shared.browser, shared.pageServer.pageUrl(client));
        const cred = ephemeralToken({ user: 'agent', secret: SECRET });
        await agent.start({ wsUrl: edge.url, uri: 'sip:agent@edge.test', authUser: cred.username,
          password: cred.password, register: true, autoAnswer: true });
        const reg = await agent.waitFor(['registered', 'registrationFailed'], 8000);
        assert.equal(reg.type, 'registered', JSON.stringify(reg));

        for (let k = 0; k < shards; k++) {
          const before = rtp.counts().fromEdge;
          sipp = await startSipp('call-browser', {
            port: trunkPort, mediaPort: echoPort, timeoutSeconds: 30,
            extraArgs: ['-rtp_echo', '-key', 'rtp_port', String(rtp.port), '-s', 'agent', `127.0.0.1:${edge.sipPort + k}`],
          });
          const up = await agent.waitFor(['confirmed', 'failed', 'ended'], 10000);
          assert.equal(up.type, 'confirmed', JSON.stringify(up));
          await statsUntil(agent, (s) => s.transport && s.transport.dtlsState === 'connected' && received(s) > 0, 8000,
            'DTLS connected and audio received');
          const m = await measure(agent, 3000);
          console.log(`# ${client} via shard ${k}: sent ${m.sent}, received ${m.received} packets in 3 s (${(100 * m.received / m.sent).toFixed(1)}%)`);
          assert.ok(m.sent >= 120, `the browser sent audio: ${m.sent}`);
          assert.ok(m.received >= 0.9 * m.sent, `received ${m.received} >= 90% of sent ${m.sent}`);
          assert.ok(rtp.counts().fromEdge - before >= m.sent, `the trunk got the browser's audio as RTP: ${JSON.stringify(rtp.counts())}`);

          const ended = await agent.waitFor(['ended'], 10000);
          assert.equal(ended.type, 'ended', 'the trunk\'s BYE reached the browser');
          assert.deepEqual(await sipp.waitExit(8000), { code: 0, signal: null }, `sipp's call went through:\n${sipp.describe()}`);
          await sipp.stop();
          sipp = null;
        }
        if (shards > 1) {
          // The coordinator (the log line's shard) and the agent's shard (shard= in msg) differ once.
          const crossed = edge.log().split('\n').filter((l) => l.includes('"call.inbound_answered"')).some((l) => {
            const j = JSON.parse(l);
            return !j.msg.includes(`shard=${j.shard} `);
          });
          assert.ok(crossed, `one call was answered across shards:\n${tail(edge.log())}`);
        }
      } catch (e) {
        const parts = [];
        if (agent) parts.push(await agent.describe());
        if (sipp) parts.push(sipp.describe());
        parts.push(`trunk RTP relay: ${JSON.stringify(rtp.counts())}`);
        if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
        throw withContext(e, parts);
      } finally {
        if (agent) await agent.close();
        if (sipp) await sipp.stop();
        if (edge) await edge.stop();
        await rtp.close();
      }
    });
  }
});
