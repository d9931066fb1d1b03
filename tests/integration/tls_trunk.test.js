// A SIP trunk over TLS (--trunk tls:HOST:PORT), with real peers on loopback: JsSIP in headless
// Chromium calls through `webtrunk edge`, which connects over TLS to Kamailio (the tls module), a
// TLS trunk proxy that relays the call, record-routed, to sipp on UDP (Debian's sipp has no TLS).
// The test makes its own CA and a certificate for "localhost" / 127.0.0.1 with openssl. The edge
// checks the trunk's certificate against the route's host name and --trunk-ca; a trunk it cannot
// trust, or one that wants a client certificate the edge does not have, is what the user sees as
// 503 "trunk unreachable (TLS: ...)" at once.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startSipEdge, ephemeralToken, KIND } = require('./lib/sip_edge');
const { startSipp, freeUdpPorts } = require('./lib/sipp');
const { openCaller, useSharedBrowser } = require('./lib/browser');
const { withContext, tail } = require('./lib/report');

const SECRET = 'edge-test-secret';
const TARGET = 'sip:15551230000@edge.test';
const CASE_MS = 30000;
const KAMAILIO = '/usr/sbin/kamailio';
const TLS_MODULE = '/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const shared = useSharedBrowser();
const haveKamailio = fs.existsSync(KAMAILIO) && fs.existsSync(TLS_MODULE);

async function metricsText(edge) {
  return (await fetch(`http://127.0.0.1:${edge.port}/metrics`)).text();
}

function tcpListening(port) {
  const hex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  try {
    return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').some((l) => l.includes(hex) && / 0A /.test(l));
  } catch (_) {
    return false;
  }
}

// A CA, a server certificate for localhost and 127.0.0.1 (Kamailio's), one for trunk.example only
// (a name the edge's route does not use), and a client certificate
// (the edge's, for mutual TLS), all signed by the CA, in `dir`.
function makeCertificates(dir) {
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  key('ca');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=webtrunk test CA', '-days', '2', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaf = (name, cn, ext) => {
    key(name);
    ssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
      '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  };
  leaf('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('other', 'trunk.example', 'subjectAltName=DNS:trunk.example\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'webtrunk edge', 'extendedKeyUsage=clientAuth\n');
}

// Kamailio with tests/integration/kamailio/tls_trunk.cfg: TLS on a free port, relaying to sipp on
// `trunkPort`. requireClientCert: the tls module verifies and requires the edge's certificate.
async function startTlsProxy({ dir, trunkPort, requireClientCert = false, cert = 'server' }) {
  const udpPort = await freeUdpPorts(1);
  let tlsPort;
  do tlsPort = await freeUdpPorts(1); while (tcpListening(tlsPort) || tlsPort === udpPort);
  const verify = requireClientCert ? 'yes' : 'no';
  const tlsCfg = path.join(dir, 'kamailio-tls.cfg');
  fs.writeFileSync(tlsCfg, [
    '[server:default]', 'method = TLSv1.2+', `verify_certificate = ${verify}`, `require_certificate = ${verify}`,
    `private_key = ${path.join(dir, `${cert}.key`)}`, `certificate = ${path.join(dir, `${cert}.pem`)}`,
    `ca_list = ${path.join(dir, 'ca.pem')}`, '',
    '[client:default]', 'verify_certificate = no', 'require_certificate = no', '',
  ].join('\n'));
  const template = fs.readFileSync(path.join(__dirname, 'kamailio', 'tls_trunk.cfg'), 'utf8');
  const cfg = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(cfg, template.replaceAll('@TLS_PORT@', String(tlsPort)).replaceAll('@UDP_PORT@', String(udpPort))
    .replaceAll('@TRUNK_PORT@', String(trunkPort)).replaceAll('@TLS_CFG@', tlsCfg));
  const rundir = fs.mkdtempSync(path.join(dir, 'run-'));
  const child = spawn(KAMAILIO, ['-f', cfg, '-DD', '-E', '-Y', rundir, '-m', '64', '-M', '8'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  let exit = null;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exit = { code, signal }))));
  const deadline = Date.now() + 8000;
  while (!tcpListening(tlsPort)) {
    if (exit || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`kamailio did not listen on tls:127.0.0.1:${tlsPort} (${JSON.stringify(exit)}):\n${tail(log)}`);
    }
    await sleep(50);
  }
  return {
    tlsPort, log: () => log,
    async stop() {
      if (!exit) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

// sipp (UDP) behind Kamailio (TLS), the edge in front with --trunk tls:localhost:PORT and
// `edgeArgs`, a JsSIP page.
async function withTlsCall({ dir, scenario = 'answer', requireClientCert = false, cert, edgeArgs = [] }, body) {
  const sipp = await startSipp(scenario, { timeoutSeconds: 25 });
  let proxy, edge, caller;
  try {
    proxy = await startTlsProxy({ dir, trunkPort: sipp.port, requireClientCert, cert });
    edge = await startSipEdge({ trunkPort: proxy.tlsPort, trunkHost: 'localhost', trunkTransport: 'tls', secrets: [SECRET],
      extraArgs: edgeArgs });
    caller = await openCaller(shared.browser, shared.pageServer.url);
    const cred = ephemeralToken({ user: 'alice', secret: SECRET });
    await caller.start({ wsUrl: edge.url, uri: 'sip:alice@edge.test', authUser: cred.username, password: cred.password,
      register: false });
    await body({ sipp, proxy, edge, caller });
  } catch (e) {
    const parts = [];
    if (caller) parts.push(await caller.describe());
    parts.push(sipp.describe());
    if (proxy) parts.push(`kamailio log, last lines:\n${tail(proxy.log())}`);
    if (edge) parts.push(`edge log, last lines:\n${tail(edge.log())}`);
    throw withContext(e, parts);
  } finally {
    if (caller) await caller.close();
    if (edge) await edge.stop();
    if (proxy) await proxy.stop();
    await sipp.stop();
  }
}

// The browser's call fails with 503 within `withinMs` of its INVITE; resolves with the failure.
async function expectFast503(caller, withinMs) {
  await caller.call(TARGET);
  const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 5000);
  assert.equal(outcome.type, 'failed', JSON.stringify(outcome));
  assert.equal(outcome.status, 503);
  const sip = await caller.sip();
  const invite = sip.filter((s) => s.dir === 'out' && s.msg.method === 'INVITE').pop();
  const fail = sip.find((s) => s.dir === 'in' && s.msg.status === 503);
  assert.ok(fail.t - invite.t < withinMs, `503 came ${fail.t - invite.t} ms after the INVITE`);
  return outcome;
}

describe('TLS trunk (Kamailio in front of sipp)', { timeout: 200000, skip: KIND !== 'webtrunk' || !haveKamailio }, () => {
  let dir;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-tls-trunk-'));
    makeCertificates(dir);
  });
  after(() => { if (dir && !process.env.KEEP_LOGS) fs.rmSync(dir, { recursive: true, force: true }); });

  it('a call over TLS to a trusted trunk is answered; the browser hangs up and the BYE goes over TLS', { timeout: CASE_MS }, async () => {
    await withTlsCall({ dir, edgeArgs: ['--trunk-ca', path.join(dir, 'ca.pem')] }, async ({ sipp, proxy, edge, caller }) => {
      await caller.call(TARGET);
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      const invite = sipp.requests('INVITE')[0];
      const vias = invite.all('via');
      assert.match(vias[1], /^SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;.*\balias\b/, `the edge's Via names TLS with alias: ${vias}`);
      assert.match(invite.get('contact'), /;transport=tls/);
      assert.match(proxy.log(), /INVITE from tls:127\.0\.0\.1/, 'Kamailio received the INVITE over TLS');
      await caller.hangup();
      const bye = await sipp.waitFor((m) => m.method === 'BYE', 3000);
      assert.ok(bye, 'the trunk got the BYE');
      assert.deepEqual(await sipp.waitExit(5000), { code: 0, signal: null }, 'sipp completed its scenario');
      assert.match(proxy.log(), /BYE from tls:127\.0\.0\.1/, 'the BYE came over TLS');
      const metrics = await metricsText(edge);
      assert.match(metrics, /^webtrunk_tls_handshakes_total(\{[^}]*\})? [1-9]/m);
      assert.doesNotMatch(metrics, /^webtrunk_trunk_tls_failures_total(\{[^}]*\})? [1-9]/m);
    });
  });

  it('the trunk hangs up: its BYE reaches the browser over the edge\'s TLS connection (Via alias)', { timeout: CASE_MS }, async () => {
    await withTlsCall({ dir, scenario: 'answer-then-hangup', edgeArgs: ['--trunk-ca', path.join(dir, 'ca.pem')] },
      async ({ sipp, proxy, caller }) => {
        await caller.call(TARGET);
        const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
        assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
        const ended = await caller.waitFor(['ended', 'failed'], 8000);
        assert.equal(ended.type, 'ended', JSON.stringify(ended));
        assert.equal(ended.originator, 'remote');
        assert.equal(ended.method, 'BYE');
        assert.deepEqual(await sipp.waitExit(5000), { code: 0, signal: null }, 'sipp got 200 for its BYE');
        assert.match(proxy.log(), /ACK from tls:127\.0\.0\.1/, 'the ACK came over TLS');
        assert.match(proxy.log(), /BYE from udp:127\.0\.0\.1/, 'the trunk\'s BYE went through the proxy');
        assert.doesNotMatch(proxy.log(), /ERROR/, 'Kamailio relayed the BYE on the edge\'s connection');
      });
  });

  it('a trunk certificate the edge does not trust (no --trunk-ca): 503 with the verify reason at once', { timeout: CASE_MS }, async () => {
    await withTlsCall({ dir }, async ({ sipp, edge, caller }) => {
      const outcome = await expectFast503(caller, 2000);
      assert.match(outcome.reason, /trunk unreachable \(TLS: .*(unable to get local issuer certificate|self.signed)/,
        outcome.reason);
      assert.equal(sipp.requests('INVITE').length, 0, 'nothing reached the trunk');
      const metrics = await metricsText(edge);
      assert.match(metrics, /^webtrunk_trunk_tls_failures_total(\{[^}]*\})? [1-9]/m);
      assert.match(metrics, /^webtrunk_tls_verify_failures_total(\{[^}]*\})? [1-9]/m);
      assert.match(edge.log(), /sip\.trunk_unreachable.*TLS: /);
    });
  });

  it('a trunk whose certificate does not name the route\'s host: 503 "hostname mismatch"', { timeout: CASE_MS }, async () => {
    await withTlsCall({ dir, cert: 'other', edgeArgs: ['--trunk-ca', path.join(dir, 'ca.pem')] }, async ({ sipp, caller }) => {
      const outcome = await expectFast503(caller, 2000);
      assert.match(outcome.reason, /trunk unreachable \(TLS: .*hostname mismatch/i, outcome.reason);
      assert.equal(sipp.requests('INVITE').length, 0, 'nothing reached the trunk');
    });
  });

  it('mutual TLS: a trunk that requires a client certificate gets --trunk-tls-cert; without it, 503 with the trunk\'s alert', { timeout: CASE_MS * 2 }, async () => {
    const ca = path.join(dir, 'ca.pem');
    await withTlsCall({ dir, requireClientCert: true, edgeArgs: ['--trunk-ca', ca] }, async ({ sipp, edge, caller }) => {
      const outcome = await expectFast503(caller, 2000);
      assert.match(outcome.reason, /trunk unreachable \(TLS: peer sent alert: (certificate required|handshake failure)\)/,
        outcome.reason);
      assert.equal(sipp.requests('INVITE').length, 0, 'nothing reached the trunk');
      assert.match(await metricsText(edge), /^webtrunk_trunk_tls_failures_total(\{[^}]*\})? [1-9]/m);
    });
    await withTlsCall({ dir, requireClientCert: true, edgeArgs: ['--trunk-ca', ca,
      '--trunk-tls-cert', path.join(dir, 'client.pem'), '--trunk-tls-key', path.join(dir, 'client.key')] },
    async ({ sipp, caller }) => {
      await caller.call(TARGET);
      const outcome = await caller.waitFor(['confirmed', 'failed', 'ended'], 8000);
      assert.equal(outcome.type, 'confirmed', JSON.stringify(outcome));
      await caller.hangup();
      assert.ok(await sipp.waitFor((m) => m.method === 'BYE', 3000), 'the trunk got the BYE');
    });
  });

  it('a bad --trunk-ca file stops the edge at start with exit 2 and one line naming it', { timeout: CASE_MS }, async () => {
    const bad = path.join(dir, 'not-a-ca.pem');
    fs.writeFileSync(bad, 'hello\n');
    for (const args of [['--trunk-ca', bad], ['--trunk-ca', path.join(dir, 'missing.pem')],
      ['--trunk-tls-cert', path.join(dir, 'client.pem'), '--trunk-tls-key', path.join(dir, 'server.key')]]) {
      const r = spawnSync(process.env.WEBTRUNK_BIN || path.join(__dirname, '../../build/webtrunk'),
        ['edge', '--no-auth', '--trunk', 'tls:localhost:5061', '--ws', '127.0.0.1:0', '--sip-port', '0', ...args],
        { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('webtrunk edge:'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /--trunk-(ca|tls-cert)/, lines[0]);
    }
  });
});
