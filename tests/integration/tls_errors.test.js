// Certificate errors a user can act on, against the real binary (issue 11 item 6): a missing file,
// a key that is not the certificate's, an expired certificate.
//   (a) at start: `webtrunk edge --wss` exits 2 with one line naming the file and the reason (the
//       expiry date for an expired certificate);
//   (b) on SIGHUP: the same line in the log (tls.reload_failed reason=...), counted in
//       webtrunk_tls_load_errors_total, and the certificate in use stays (its serial over TLS).
// Plain HTTP to the TLS port (closed, counted) is wss.test.js's.
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { BIN, startEdge, freePort, metric, sleep } = require('./lib/edge');

let dir;

const openssl = (args, opts = {}) => execFileSync('openssl', args, { stdio: ['pipe', 'pipe', 'ignore'], timeout: 10000, cwd: dir, ...opts });

// A self-signed P-256 certificate valid now, in dir/name.crt + dir/name.key.
function makeCert(name) {
  const out = path.join(dir, name);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${out}.key`,
    '-out', `${out}.crt`, '-days', '2', '-subj', `/CN=${name}`]);
  return { cert: `${out}.crt`, key: `${out}.key` };
}

// A self-signed certificate valid 2020-01-01 .. 2020-01-02 (OpenSSL 3.0's `req` takes no start
// date: `openssl ca -selfsign` with -startdate/-enddate does).
function makeExpiredCert(name) {
  const out = path.join(dir, name);
  const ca = path.join(dir, `${name}-ca`);
  fs.mkdirSync(ca);
  fs.writeFileSync(path.join(ca, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${ca}/index.txt\nnew_certs_dir=${ca}\n` +
    `serial=${ca}/serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n`);
  fs.writeFileSync(path.join(ca, 'index.txt'), '');
  fs.writeFileSync(path.join(ca, 'serial'), '01\n');
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${out}.key`,
    '-out', `${ca}/req.csr`, '-subj', `/CN=${name}`]);
  openssl(['ca', '-selfsign', '-batch', '-notext', '-config', `${ca}/ca.cnf`, '-keyfile', `${out}.key`, '-in', `${ca}/req.csr`,
    '-out', `${out}.crt`, '-startdate', '20200101000000Z', '-enddate', '20200102000000Z']);
  return { cert: `${out}.crt`, key: `${out}.key` };
}

const serialOf = (file) => openssl(['x509', '-noout', '-serial', '-in', file]).toString().trim();
function servedSerial(port) {
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'edge.test'], { input: '', timeout: 10000 });
  return spawnSync('openssl', ['x509', '-noout', '-serial'], { input: r.stdout, timeout: 5000 }).stdout.toString().trim();
}

// `webtrunk edge` with these TLS files, run to its exit (bounded).
async function edgeAtStart(cert, key) {
  const args = ['edge', '--ws', `127.0.0.1:${await freePort()}`, '--wss', `127.0.0.1:${await freePort()}`, '--no-auth',
    '--shards', '1', '--sip-port', '0', '--tls-cert', cert, '--tls-key', key];
  const r = spawnSync(BIN, args, { timeout: 10000, encoding: 'utf8' });
  return { status: r.status, lines: `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim()) };
}

describe('certificate errors', { timeout: 90000 }, () => {
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-tlserr-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('at start: a missing file, a key that is not the certificate\'s, an expired certificate: exit 2, one line', { timeout: 30000 }, async () => {
    const good = makeCert('good');
    const other = makeCert('other');
    const expired = makeExpiredCert('expired');
    const cases = [
      ['missing certificate', path.join(dir, 'nowhere.crt'), good.key, [/nowhere\.crt/]],
      ['missing key', good.cert, path.join(dir, 'nowhere.key'), [/nowhere\.key/]],
      ['key of another certificate', good.cert, other.key, [/other\.key/, /does not match/, /good\.crt/]],
      ['expired', expired.cert, expired.key, [/expired\.crt/, /expired on 2020-01-02/]],
    ];
    for (const [what, cert, key, expect] of cases) {
      const r = await edgeAtStart(cert, key);
      assert.equal(r.status, 2, `${what}: exit status (${r.lines.join(' | ')})`);
      assert.equal(r.lines.length, 1, `${what}: one line: ${r.lines.join(' | ')}`);
      assert.match(r.lines[0], /--tls-cert/, `${what}: names the flag`);
      for (const re of expect) assert.match(r.lines[0], re, `${what}`);
    }
  });

  it('on SIGHUP: each bad file is logged with its reason and counted, the certificate in use stays', { timeout: 40000 }, async () => {
    const live = makeCert('live');
    const original = serialOf(live.cert);
    const port = await freePort();
    const edge = await startEdge(['--no-auth', '--shards', '1', '--sip-port', '0', '--wss', `127.0.0.1:${port}`,
      '--tls-cert', live.cert, '--tls-key', live.key], { logLevel: 'info' });
    try {
      assert.equal(servedSerial(port), original);
      const expired = makeExpiredCert('expired2');
      const other = makeCert('other2');
      const steps = [
        ['expired', () => { fs.copyFileSync(expired.cert, live.cert); fs.copyFileSync(expired.key, live.key); }, /expired on 2020-01-02/],
        ['key_mismatch', () => { fs.copyFileSync(other.cert, live.cert); fs.copyFileSync(expired.key, live.key); }, /does not match/],
        ['unreadable', () => fs.rmSync(live.cert), /live\.crt/],
      ];
      const before0 = await metric(edge, 'webtrunk_tls_load_errors_total');
      let n = 0;
      for (const [reason, breakIt, says] of steps) {
        breakIt();
        process.kill(edge.pid, 'SIGHUP');
        let line;
        for (let i = 0; i < 60 && !line; i++) {
          line = edge.log().split('\n').find((l) => l.includes('tls.reload_failed') && l.includes(`reason=${reason}`));
          if (!line) await sleep(50);
        }
        assert.ok(line, `${reason}: logged (${edge.log().split('\n').slice(-3).join(' | ')})`);
        assert.match(line, says);
        assert.match(line, /previous certificates stay/);
        n++;
        assert.equal(await metric(edge, 'webtrunk_tls_load_errors_total'), before0 + n, `${reason}: counted`);
        assert.equal(servedSerial(port), original, `${reason}: the certificate in use stays`);
      }
      assert.equal(edge.child.exitCode, null, 'the edge runs on');
    } finally {
      await edge.stop();
    }
  });
});
