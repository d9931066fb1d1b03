// Trunk failures a user sees, with real peers on loopback: JsSIP in headless Chromium calls through
// `webtrunk edge` to a trunk address where nothing listens. The kernel answers the edge's INVITE with
// ICMP port unreachable (read through IP_RECVERR), and the browser hears 503 at once instead of the
// 32 s of Timer B, and /metrics counts it on the call's route (reason="unreachable_icmp").
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { startSipEdge, ephemeralToken, KIND } = require('./lib/sip_edge');
const { freeUdpPorts } = require('./lib/sipp');
const { openCaller, useSharedBrowser } = require('./lib/browser');
const { withContext, tail } = require('./lib/report');

const SECRET = 'edge-test-secret';
const shared = useSharedBrowser();

describe('trunk failures', { timeout: 40000, skip: KIND !== 'webtrunk' }, () => {
  it('trunk not listening: the browser gets 503 "trunk unreachable" within a second', { timeout: 20000 }, async () => {
    const deadPort = await freeUdpPorts(1); // free: nothing listens there
    let edge, caller;
    try {
      const trunk = `udp:127.0.0.1:${deadPort}`;
      edge = await startSipEdge({ trunkPort: deadPort, secrets: [SECRET], routes: `+1555 ${trunk}\n` });
      const labels = `route="+1555",trunk="${trunk}"`;
      const routeCount = async (name, extra = '') => {
        const text = await (await fetch(`http://127.0.0.1:${edge.port}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}${extra}} `));
        assert.ok(line, `${name}{${labels}${extra}} in /metrics`);
        return Number(line.slice(line.lastIndexOf(' ') + 1));
      };
      const failed = 'webtrunk_route_calls_failed_total';
      assert.equal(await routeCount(failed, ',reason="unreachable_icmp"'), 0, 'no failure before the call');
      caller = await openCaller(shared.browser, shared.pageServer.url);
      const cred = ephemeralToken({ user: 'alice', secret: SECRET });
      await caller.start({ wsUrl: edge.url, uri: 'sip:alice@edge.test', authUser: cred.username, password: cred.password,
        register: false });
      await caller.call('sip:15551230000@edge.test');
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 5000);
      assert.equal(outcome.type, 'failed', JSON.stringify(outcome));
      assert.equal(outcome.status, 503);
      assert.match(outcome.reason, /trunk unreachable/);
      // From the browser's INVITE with credentials (the one the edge forwards) to the 503, as the
      // page's WebSocket saw them; Timer B would be 32 s.
      const sip = await caller.sip();
      const invite = sip.filter((s) => s.dir === 'out' && s.msg.method === 'INVITE').pop();
      const fail = sip.find((s) => s.dir === 'in' && s.msg.status === 503);
      assert.ok(invite && fail, 'INVITE and 503 on the WebSocket');
      assert.ok(fail.t - invite.t < 1000, `503 came ${fail.t - invite.t} ms after the INVITE`);
      const metrics = await (await fetch(`http://127.0.0.1:${edge.port}/metrics`)).text();
      assert.match(metrics, /^webtrunk_trunk_unreachable_total(\{[^}]*\})? [1-9]/m, 'counted in /metrics');
      assert.equal(await routeCount('webtrunk_route_calls_attempted_total'), 1, 'one call attempted on the route');
      assert.equal(await routeCount(failed, ',reason="unreachable_icmp"'), 1, 'its 503 counted on the route');
      assert.equal(await routeCount('webtrunk_route_calls_answered_total'), 0);
    } catch (e) {
      const parts = [];
      if (caller) parts.push(await caller.describe());
      if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
      throw withContext(e, parts);
    } finally {
      if (caller) await caller.close();
      if (edge) await edge.stop();
    }
  });
});
