// TLS on the edge's public port with real peers on loopback: `webtrunk edge --wss` with two
// certificates made at test time (openssl).
//
//   (a) openssl s_client: the certificate is chosen by SNI (subject checked for both names),
//       ALPN http/1.1 and TLS 1.3 are agreed; /healthz and /metrics answer over https;
//   (b) plain HTTP to the wss port is closed unanswered and counted (webtrunk_tls_plaintext_total);
//   (c) JsSIP in headless Chromium over wss:// calls sipp -rtp_echo: >= 90% of the audio comes back;
//       then the certificate is replaced on disk and the edge gets SIGHUP while the call is up: the
//       call keeps its audio, and a new connection sees the new certificate (serial number);
//   (d) SIP.js in headless Chromium registers and calls over wss://: >= 90% of the audio comes back
//       and reaches the trunk.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { useSharedBrowser } = require('./lib/browser');
const { startEdge, freePort, metric, sleep } = require('./lib/edge');
const { withMediaCall, connectWithAudio, measure, hangUpCleanly, assertAudioBothWays } = require('./lib/media_call');

const shared = useSharedBrowser();
let dir;

// A self-signed P-256 certificate for `name` in dir/name.crt + dir/name.key (or at `out`).
function makeCert(name, out = path.join(dir, name)) {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${out}.key`, '-out', `${out}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=DNS:${name}`], { stdio: 'ignore', timeout: 10000 });
  return { cert: `${out}.crt`, key: `${out}.key` };
}

function serialOf(file) {
  return execFileSync('openssl', ['x509', '-noout', '-serial', '-in', file], { timeout: 5000 }).toString().trim();
}

// openssl s_client to 127.0.0.1:port with SNI `name`: its whole output and the leaf's serial.
function sClient(port, name) {
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', name, '-alpn', 'http/1.1'],
    { input: '', timeout: 10000 });
  const out = r.stdout.toString();
  const x = spawnSync('openssl', ['x509', '-noout', '-serial'], { input: out, timeout: 5000 });
  return { out, serial: x.stdout.toString().trim() };
}

function httpsGet(url) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

const tlsArgs = (port, a, b) => ['--wss', `127.0.0.1:${port}`, '--tls-cert', a.cert, '--tls-key', a.key,
  '--tls-cert', b.cert, '--tls-key', b.key];

describe('wss:// on the edge', { timeout: 140000 }, () => {
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-wss-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('SNI picks the certificate, ALPN http/1.1 over TLS 1.3, /healthz over https, plaintext refused', { timeout: 30000 }, async () => {
    const a = makeCert('a.edge.test');
    const b = makeCert('b.edge.test');
    const port = await freePort();
    const edge = await startEdge(['--no-auth', '--shards', '1', '--sip-port', '0', ...tlsArgs(port, a, b)]);
    try {
      for (const [name, file] of [['a.edge.test', a.cert], ['b.edge.test', b.cert]]) {
        const s = sClient(port, name);
        assert.match(s.out, new RegExp(`subject=CN ?= ?${name.replace(/\./g, '\\.')}`), s.out);
        assert.equal(s.serial, serialOf(file));
        assert.match(s.out, /ALPN protocol: http\/1\.1/);
        assert.match(s.out, /New, TLSv1\.3/);
      }
      const h = await httpsGet(`https://127.0.0.1:${port}/healthz`);
      assert.equal(h.status, 200);
      const m = await httpsGet(`https://127.0.0.1:${port}/metrics`);
      assert.match(m.body, /webtrunk_tls_handshakes_total/);
      const before = await metric(edge, 'webtrunk_tls_plaintext_total');
      const answer = await new Promise((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
        let got = '';
        c.on('data', (d) => (got += d));
        c.on('close', () => resolve(got));
        c.on('error', () => resolve(got));
        c.setTimeout(3000, () => c.destroy());
      });
      assert.equal(answer, '', 'plain HTTP on the wss port gets no answer');
      assert.equal(await metric(edge, 'webtrunk_tls_plaintext_total'), before + 1);
    } finally {
      await edge.stop();
    }
  });

  it('JsSIP over wss:// gets its audio back, and keeps it across a certificate reload (SIGHUP)', { timeout: 45000 }, async () => {
    const a = makeCert('edge.test', path.join(dir, 'call'));
    const b = makeCert('other.edge.test');
    const port = await freePort();
    await withMediaCall(shared, 'answer-media', { edgeArgs: tlsArgs(port, a, b), wsUrl: `wss://127.0.0.1:${port}` },
      async (r) => {
        await connectWithAudio(r.caller);
        const m = await measure(r.caller, 4000);
        console.log(`# over wss: sent ${m.sent}, received ${m.received} packets in 4 s`);
        assert.ok(m.sent >= 150, `the browser sent audio: ${m.sent}`);
        assert.ok(m.received >= 0.9 * m.sent, `received ${m.received} >= 90% of sent ${m.sent}`);
        const oldSerial = sClient(port, 'edge.test').serial;
        assert.equal(oldSerial, serialOf(a.cert));
        const fresh = makeCert('edge.test', path.join(dir, 'fresh'));
        fs.copyFileSync(fresh.key, a.key);
        fs.copyFileSync(fresh.cert, a.cert);
        process.kill(r.edge.pid, 'SIGHUP');
        await sleep(500);
        const m2 = await measure(r.caller, 3000);
        assert.ok(m2.received >= 0.9 * m2.sent, `after the reload: received ${m2.received} >= 90% of sent ${m2.sent}`);
        const newSerial = sClient(port, 'edge.test').serial;
        assert.equal(newSerial, serialOf(fresh.cert));
        assert.notEqual(newSerial, oldSerial);
        assert.equal(r.edge.child.exitCode, null, 'SIGHUP did not stop the edge');
        await hangUpCleanly(r);
      });
  });

  it('SIP.js over wss:// registers, calls and gets its audio back', { timeout: 45000 }, async () => {
    const a = makeCert('edge.test', path.join(dir, 'sipjs'));
    const b = makeCert('other.edge.test', path.join(dir, 'sipjs-other'));
    const port = await freePort();
    await withMediaCall(shared, 'answer-media',
      { client: 'sipjs', register: true, edgeArgs: tlsArgs(port, a, b), wsUrl: `wss://127.0.0.1:${port}` }, async (r) => {
        const reg = await r.caller.waitFor(['registered', 'registrationFailed'], 8000);
        assert.equal(reg.type, 'registered', JSON.stringify(reg));
        await connectWithAudio(r.caller, { audio: false });
        await assertAudioBothWays(r.caller, 4000, 'SIP.js over wss', r.rtp);
        assert.ok(await metric(r.edge, 'webtrunk_tls_handshakes_total') >= 1, 'the browser came in over TLS');
        await hangUpCleanly(r);
      });
  });
});
