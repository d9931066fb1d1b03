// --routes reloaded while a call is up, with real peers on loopback: JsSIP in headless Chromium calls
// through `webtrunk edge --routes FILE` to sipp trunk A (-rtp_echo). The file is rewritten to send the
// prefix to sipp trunk B and the edge gets SIGHUP:
//   - the call in progress keeps its audio through A and hangs up cleanly (A gets the BYE);
//   - a new call goes to B;
//   - then a broken file and SIGHUP: one log line naming the file and line, counted in
//     webtrunk_routes_reload_failures_total; the next call still goes to B.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { useSharedBrowser, openCaller } = require('./lib/browser');
const { metric, sleep } = require('./lib/edge');
const { startSipp } = require('./lib/sipp');
const { ephemeralToken, KIND } = require('./lib/sip_edge');
const { withMediaCall, connectWithAudio, assertAudioBothWays, hangUpCleanly, SECRET } = require('./lib/media_call');

const shared = useSharedBrowser();

// Waits until the edge's log matches `re` (the reload runs on the edge's signal thread).
async function logLine(edge, re, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const hit = edge.log().split('\n').find((l) => re.test(l));
    if (hit) return hit;
    if (Date.now() > end) return null;
    await sleep(50);
  }
}

// A fresh page that calls TARGET once and waits for the answer (no audio: trunk B plays none).
async function callOnce(edge) {
  const caller = await openCaller(shared.browser, shared.pageServer.pageUrl('jssip'));
  const cred = ephemeralToken({ user: 'bob', secret: SECRET });
  await caller.start({ wsUrl: edge.url, uri: 'sip:bob@edge.test', authUser: cred.username, password: cred.password,
    register: false });
  await connectWithAudio(caller, { audio: false });
  return caller;
}

describe('--routes reloaded on SIGHUP', { timeout: 120000, skip: KIND !== 'webtrunk' }, () => {
  it('the call up keeps trunk A and its audio, new calls go to trunk B, a broken file keeps B', { timeout: 90000 }, async () => {
    const routes = (port) => `# test routes\n1555 udp:127.0.0.1:${port}\n`;
    await withMediaCall(shared, 'answer-media', { routes: (sippA) => routes(sippA.port), sippTimeout: 80 }, async (r) => {
      const trunkB = await startSipp('answer', { calls: 2, timeoutSeconds: 60 });
      const callers = [];
      try {
        await connectWithAudio(r.caller);
        await assertAudioBothWays(r.caller, 2000, 'before the reload, through trunk A');

        fs.writeFileSync(r.edge.routesFile, routes(trunkB.port));
        process.kill(r.edge.pid, 'SIGHUP');
        const loaded = await logLine(r.edge, /routes\.reloaded/);
        assert.ok(loaded, 'the reload is logged');
        assert.match(loaded, /routes=1/);
        assert.equal(await metric(r.edge, 'webtrunk_routes_reloads_total'), 1);

        // The call in progress: still up, audio still flowing through A.
        await assertAudioBothWays(r.caller, 3000, 'after the reload, the call in progress');
        assert.equal(r.sipp.requests('INVITE').length, 1, 'trunk A got no new INVITE');

        // A new call goes to B.
        callers.push(await callOnce(r.edge));
        assert.ok(await trunkB.waitFor((m) => m.method === 'INVITE', 3000), 'trunk B got the new call');
        assert.equal(trunkB.requests('INVITE')[0].ruri, 'sip:15551230000@127.0.0.1:' + trunkB.port);
        await callers[0].hangup();
        assert.ok(await trunkB.waitFor((m) => m.method === 'BYE', 3000), 'trunk B got its BYE');

        // A broken file: refused, logged with file and line, counted; B still gets the calls.
        fs.writeFileSync(r.edge.routesFile, `1555 udp:127.0.0.1:${trunkB.port}\n1555x tcp:nowhere\n`);
        process.kill(r.edge.pid, 'SIGHUP');
        const refused = await logLine(r.edge, /routes\.reload_failed/);
        assert.ok(refused, 'the broken file is logged');
        assert.ok(refused.includes(`${r.edge.routesFile}:2:`), `the line names the file and line: ${refused}`);
        assert.match(refused, /previous routes stay/);
        assert.equal(await metric(r.edge, 'webtrunk_routes_reload_failures_total'), 1);
        assert.equal(r.edge.child.exitCode, null, 'SIGHUP did not stop the edge');
        callers.push(await callOnce(r.edge));
        assert.equal(trunkB.requests('INVITE').length, 2, 'trunk B got the call after the broken reload');
        await callers[1].hangup();
        assert.deepEqual(await trunkB.waitExit(5000), { code: 0, signal: null }, 'trunk B completed both calls');

        // The first call, still on A, hangs up cleanly.
        await assertAudioBothWays(r.caller, 2000, 'the call in progress, at the end');
        await hangUpCleanly(r);
      } catch (e) {
        e.message += `\n${trunkB.describe()}`;
        throw e;
      } finally {
        for (const c of callers) await c.close();
        await trunkB.stop();
      }
    });
  });
});
