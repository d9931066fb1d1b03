// The edge REGISTERs with a trunk named by its host (`* udp:reg.test ... register=yes`), with real
// peers on loopback: dnsmasq serves _sip._udp.reg.test with a first SRV target where nothing listens
// (ICMP port unreachable) and sipp as the registrar (sipp/registrar-challenge.xml, grants 4 s) second.
// The registration fails over to sipp at once, keeps the name in the Request-URI and the AOR, and
// its refresh starts at the first target again (so fails over again). Drain un-registers at sipp.
'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startSipEdge, KIND } = require('./lib/sip_edge');
const { startSipp, freeUdpPorts } = require('./lib/sipp');
const { freePort, metric, sleep } = require('./lib/edge');
const { withContext, tail } = require('./lib/report');
const { DNSMASQ, startDnsmasq } = require('./lib/dnsmasq');

const SECRET = 'edge-test-secret';
const TRUNK_PASSWORD = 'trunk-test-password'; // as in the scenario's verifyauth

describe('the edge registers with a trunk by name', { timeout: 60000, skip: KIND !== 'webtrunk' || !DNSMASQ }, () => {
  it('first SRV target unreachable: registered at the second at once, the refresh starts at the first again', { timeout: 30000 }, async () => {
    const sipp = await startSipp('registrar-challenge', { timeoutSeconds: 25 });
    const deadPort = await freeUdpPorts(1);
    const dnsPort = await freeUdpPorts(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-trunk-register-dns-'));
    const pwFile = path.join(dir, 'trunk-password');
    fs.writeFileSync(pwFile, `${TRUNK_PASSWORD}\n`, { mode: 0o600 });
    let dns, edge;
    try {
      dns = await startDnsmasq(dnsPort, [
        '--host-record=a.reg.test,127.0.0.1', '--host-record=b.reg.test,127.0.0.1',
        `--srv-host=_sip._udp.reg.test,a.reg.test,${deadPort},10,0`,
        `--srv-host=_sip._udp.reg.test,b.reg.test,${sipp.port},20,0`,
      ]);
      const adminPort = await freePort();
      edge = await startSipEdge({ secrets: [SECRET], shards: 1, healthz: `http://127.0.0.1:${adminPort}`,
        routes: `* udp:reg.test user=acme password-file=${pwFile} register=yes\n`,
        extraArgs: ['--dns-server', `127.0.0.1:${dnsPort}`, '--admin-listen', `127.0.0.1:${adminPort}`] });
      const admin = `http://127.0.0.1:${adminPort}`;
      edge.http = admin; // lib/edge.js's metric() reads /metrics there

      // Registered (challenged, then with credentials), then refreshed about 2 s later (half of 4 s).
      const end = Date.now() + 8000;
      while (sipp.requests('REGISTER').length < 4 && Date.now() < end) await sleep(50);
      const regs = sipp.requests('REGISTER');
      assert.ok(regs.length >= 4, `4 REGISTERs at sipp (a refresh) within 8 s, got ${regs.length}`);
      assert.equal(regs[0].ruri, 'sip:reg.test', 'the Request-URI keeps the name');
      assert.equal(regs[0].get('to'), '<sip:acme@reg.test>');
      for (const r of regs) assert.equal(r.get('call-id'), regs[0].get('call-id'), 'one Call-ID for the registration');
      assert.ok(sipp.sent().filter((m) => m.status === 200 && m.cseq().method === 'REGISTER').length >= 2, 'sipp granted both');

      const status = await (await fetch(`${admin}/status`)).json();
      assert.equal(status.trunk_registrations[0].state, 'registered', JSON.stringify(status));
      assert.equal(await metric(edge, 'webtrunk_trunk_registrations_up'), 1);
      // The first REGISTER and the refresh each went to the dead first target first.
      assert.ok((await metric(edge, 'webtrunk_trunk_register_failovers_total')) >= 2, 'failed over twice');
      assert.ok((await metric(edge, 'webtrunk_trunk_register_failures_unreachable_total')) >= 2);
      assert.match(edge.log(), new RegExp(`trunk\\.register_failover[^\\n]*why=unreachable[^\\n]*target=127\\.0\\.0\\.1:${deadPort}`));

      const before = sipp.requests('REGISTER').length;
      const exit = await edge.stop();
      assert.equal(exit.code, 0, `edge exit ${JSON.stringify(exit)}`);
      const gone = sipp.requests('REGISTER').slice(before).filter((r) => r.get('expires') === '0');
      assert.ok(gone.length >= 1, 'the un-REGISTER went where the registration is');
    } catch (e) {
      const parts = [sipp.describe()];
      if (dns) parts.push(`dnsmasq log, last lines:\n${tail(dns.log())}`);
      if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
      throw withContext(e, parts);
    } finally {
      if (edge) await edge.stop();
      await sipp.stop();
      if (dns) await dns.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
