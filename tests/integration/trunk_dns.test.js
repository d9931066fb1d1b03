// Trunks by name (RFC 3263) with real peers on loopback: dnsmasq serves NAPTR, SRV and A records on
// a free port (`--dns-server 127.0.0.1:P`), JsSIP in headless Chromium calls through `webtrunk edge
// --routes` whose trunks are names, and two sipp trunks sit behind each name's SRV targets:
//   - dead.test: the first SRV target has nothing listening (ICMP port unreachable), the second
//     (sipp `answer`) answers: the call connects through the second;
//   - busy.test: the first target (sipp `unavailable-503`) answers 503, the second answers: the
//     call connects through the second, and the first got only the one INVITE;
//   - nx.test: no such name: the browser gets 503 "trunk unresolved (NXDOMAIN ...)" at once;
//   - late.test: not in DNS at start, added later (a file in dnsmasq's --hostsdir): the edge keeps
//     trying and its calls connect once it resolves;
//   - SIGHUP with the routes file rewritten: the edge lives on and the reloaded table has the
//     targets at once (the next call fails over and connects as before).
// Failovers are counted in webtrunk_calls_trunk_failover_total.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startSipEdge, ephemeralToken, KIND } = require('./lib/sip_edge');
const { startSipp, freeUdpPorts } = require('./lib/sipp');
const { openCaller, useSharedBrowser } = require('./lib/browser');
const { metric, sleep } = require('./lib/edge');
const { withContext, tail } = require('./lib/report');
const { DNSMASQ, startDnsmasq } = require('./lib/dnsmasq');

const SECRET = 'edge-test-secret';
const shared = useSharedBrowser();

describe('trunks by name: RFC 3263 lookups and failover', { timeout: 120000, skip: KIND !== 'webtrunk' || !DNSMASQ }, () => {
  let dns, edge, answerDead, answerBusy, unavailable, deadPort, hostsDir;

  before(async () => {
    // Two sipp trunks answering, one answering 503, one port where nothing listens.
    answerDead = await startSipp('answer', { timeoutSeconds: 90, calls: 2 });
    answerBusy = await startSipp('answer', { timeoutSeconds: 90, calls: 2 });
    unavailable = await startSipp('unavailable-503', { timeoutSeconds: 90 });
    deadPort = await freeUdpPorts(1);
    const dnsPort = await freeUdpPorts(1);
    hostsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-dns-hosts-'));
    dns = await startDnsmasq(dnsPort, [
      // late.test appears only when a file lands here (dnsmasq watches the directory).
      `--hostsdir=${hostsDir}`,
      '--host-record=a.trunk.test,127.0.0.1', '--host-record=b.trunk.test,127.0.0.1',
      // dead.test: NAPTR -> _sip._udp.dead.test -> the dead port first (priority 10), sipp second (20).
      '--naptr-record=dead.test,10,10,s,SIP+D2U,,_sip._udp.dead.test',
      `--srv-host=_sip._udp.dead.test,a.trunk.test,${deadPort},10,0`,
      `--srv-host=_sip._udp.dead.test,b.trunk.test,${answerDead.port},20,0`,
      // busy.test: no NAPTR; its SRV (udp) puts the 503 trunk first.
      `--srv-host=_sip._udp.busy.test,a.trunk.test,${unavailable.port},10,0`,
      `--srv-host=_sip._udp.busy.test,b.trunk.test,${answerBusy.port},20,0`,
    ]);
    edge = await startSipEdge({
      secrets: [SECRET], shards: 1,
      routes: `1555 dead.test\n1666 udp:busy.test\n1777 nx.test\n1888 udp:late.test:${answerBusy.port}\n`,
      extraArgs: ['--dns-server', `127.0.0.1:${dnsPort}`],
    });
  });

  after(async () => {
    for (const p of [edge, answerDead, answerBusy, unavailable, dns]) {
      if (p) await p.stop();
    }
    if (hostsDir) fs.rmSync(hostsDir, { recursive: true, force: true });
  });

  async function call(number, body) {
    let caller;
    try {
      caller = await openCaller(shared.browser, shared.pageServer.url);
      const cred = ephemeralToken({ user: 'alice', secret: SECRET });
      await caller.start({ wsUrl: edge.url, uri: 'sip:alice@edge.test', authUser: cred.username, password: cred.password,
        register: false });
      await caller.call(`sip:${number}@edge.test`);
      await body(caller);
    } catch (e) {
      const parts = [];
      if (caller) parts.push(await caller.describe());
      for (const s of [answerDead, answerBusy, unavailable]) parts.push(s.describe());
      parts.push(`dnsmasq log, last lines:\n${tail(dns.log())}`);
      parts.push(`edge log, last lines:\n${tail(edge.log())}`);
      throw withContext(e, parts);
    } finally {
      if (caller) await caller.close();
    }
  }

  it('the resolved targets are logged at start', () => {
    assert.match(edge.log(), new RegExp(`dns\\.resolved.*trunk=dead\\.test.*targets=udp:127\\.0\\.0\\.1:${deadPort},udp:127\\.0\\.0\\.1:${answerDead.port}`));
    assert.match(edge.log(), /dns\.failed.*trunk=nx\.test.*NXDOMAIN/);
  });

  it('first SRV target not listening (ICMP): the call connects through the second', { timeout: 30000 }, async () => {
    const before = await metric(edge, 'webtrunk_calls_trunk_failover_total');
    await call('15551230000', async (caller) => {
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      const inv = answerDead.requests('INVITE');
      assert.equal(inv.length, 1, 'the second target got the INVITE');
      assert.match(inv[0].startLine, /^INVITE sip:15551230000@dead\.test SIP\/2\.0/);
      await caller.hangup();
      assert.ok(await answerDead.waitFor((m) => m.method === 'BYE', 3000), 'the BYE goes where the dialog is');
    });
    assert.equal(await metric(edge, 'webtrunk_calls_trunk_failover_total'), (before || 0) + 1);
  });

  it('first SRV target answers 503: the call connects through the second', { timeout: 30000 }, async () => {
    await call('16661230000', async (caller) => {
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      assert.equal(unavailable.requests('INVITE').length, 1, 'the 503 trunk got one INVITE');
      assert.ok(await unavailable.waitFor((m) => m.method === 'ACK', 2000), 'its 503 was ACKed');
      const inv = answerBusy.requests('INVITE');
      assert.equal(inv.length, 1, 'the second target got the INVITE');
      // Same call on both targets: Call-ID and From tag kept (RFC 3263 §4.3).
      const first = unavailable.requests('INVITE')[0];
      assert.equal(inv[0].get('call-id'), first.get('call-id'));
      assert.equal(inv[0].get('from'), first.get('from'));
      await caller.hangup();
      assert.ok(await answerBusy.waitFor((m) => m.method === 'BYE', 3000), 'the BYE goes to the second target');
    });
  });

  it('a name that does not resolve: 503 "trunk unresolved" at once', { timeout: 20000 }, async () => {
    await call('17771230000', async (caller) => {
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 5000);
      assert.equal(outcome.type, 'failed', JSON.stringify(outcome));
      assert.equal(outcome.status, 503);
      assert.match(outcome.reason, /trunk unresolved \(NXDOMAIN/);
    });
    assert.ok((await metric(edge, 'webtrunk_calls_refused_trunk_unresolved_total')) >= 1);
    assert.equal(await metric(edge, 'webtrunk_dns_unresolved_names'), 2, 'nx.test and late.test (not yet there)');
  });

  it('a reload (SIGHUP) keeps the resolved targets: the next call connects at once', { timeout: 30000 }, async () => {
    fs.writeFileSync(edge.routesFile, `# reloaded\n1555 dead.test\n1666 udp:busy.test\n1777 nx.test\n1888 udp:late.test:${answerBusy.port}\n`);
    process.kill(edge.pid, 'SIGHUP');
    const end = Date.now() + 3000;
    while (!/routes\.reloaded/.test(edge.log()) && Date.now() < end) await sleep(50);
    assert.match(edge.log(), /routes\.reloaded.*routes=4/);
    const before = await metric(edge, 'webtrunk_calls_trunk_failover_total');
    await call('15551230001', async (caller) => {
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      assert.equal(answerDead.requests('INVITE').length, 2, 'the second target got this call too');
      await caller.hangup();
    });
    assert.equal(await metric(edge, 'webtrunk_calls_trunk_failover_total'), before + 1);
  });

  it('a name missing at start is tried again: once it resolves, its calls connect', { timeout: 40000 }, async () => {
    assert.match(edge.log(), new RegExp(`dns\\.failed.*trunk=udp:late\\.test:${answerBusy.port}.*NXDOMAIN`));
    fs.writeFileSync(path.join(hostsDir, 'late'), '127.0.0.1 late.test\n');
    // Retried after 1, 2, 4, 8, 16 s: found within 20 s of the file.
    const end = Date.now() + 20000;
    while (!/dns\.resolved.*trunk=udp:late\.test/.test(edge.log()) && Date.now() < end) await sleep(100);
    assert.match(edge.log(), new RegExp(`dns\\.resolved.*trunk=udp:late\\.test:${answerBusy.port} targets=udp:127\\.0\\.0\\.1:${answerBusy.port}`));
    assert.equal(await metric(edge, 'webtrunk_dns_unresolved_names'), 1, 'only nx.test is left');
    await call('18881230000', async (caller) => {
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      const inv = answerBusy.requests('INVITE');
      assert.equal(inv.length, 2, 'the late trunk got the INVITE');
      assert.match(inv[1].startLine, new RegExp(`^INVITE sip:18881230000@late\\.test:${answerBusy.port} SIP/2\\.0`));
      await caller.hangup();
    });
  });
});
