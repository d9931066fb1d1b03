// The chain of trust end to end (issue 5), as a person sees it: `webtrunk demo` (the real binary:
// echo trunk, auth service, edge, customer servlet serving web/dist) and the demo page in headless
// Chromium with its fake microphone. The page gets a token from the servlet, trades it at the auth
// service, calls through the edge to the echo trunk, and the audio comes back. Each error path is
// asserted on the words the page shows. Error paths are driven by the demo's flags (wrong servlet
// secret, short token lifetime, other provisioned origins) or by the page's test hooks
// (window.webtrunkDemoHooks: replay a token, alter the edge credentials).
// `webtrunk demo --tls`: the same call with the page, the servlet and the auth service on https and
// the edge on wss:// (a certificate the demo made at start; Chromium runs with --ignore-certificate-errors).
'use strict';
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { execFileSync, spawnSync } = require('node:child_process');
const { BIN } = require('./lib/edge');
const { launchBrowser } = require('./lib/browser');
const { startDemo, openDemoPage } = require('./lib/demo');

const NUMBER = '+15551230000';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The page's words (web/src/app.js) that the person must see for each case.
const SAYS = {
  inCall: 'You are in the call. Speak: you should hear yourself.',
  hungUp: 'Call ended. You hung up.',
  wrongSecret: 'This web site is not set up correctly: its token was signed with the wrong secret (wrong customer secret).',
  expired: 'The token expired before it could be used (customer token expired).',
  replayed: 'This token was already used (customer token already used). Press Call again to get a fresh one.',
  origin: 'Your site is not allowed to call: the call service does not accept calls from this page\'s address.',
  tampered: 'The call server refused this page\'s credentials (they were altered or are not valid).',
  number: 'This number is not allowed: this site may not call it.',
  edgeDown: (uri) => `The call server (edge) at ${uri} is unreachable. Is it running?`,
};

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { if (browser) await browser.close(); });

// Runs `body(page)` on a fresh demo page; on a failure the error carries the page's states and log
// and the last lines of every part's log.
async function withPage(demo, hooks, body) {
  const page = await openDemoPage(browser, demo.url, hooks);
  try {
    await body(page);
  } catch (e) {
    e.message += `\n${await page.describe()}\n${demo.logs()}`;
    throw e;
  } finally {
    await page.close();
  }
}

async function withDemo(args, body) {
  const demo = await startDemo(args);
  try {
    await body(demo);
  } finally {
    await demo.stop();
  }
}

describe('the demo as started by `webtrunk demo`', () => {
  let demo;
  before(async () => { demo = await startDemo(); });
  after(async () => { if (demo) await demo.stop(); });

  it('the page calls the echo trunk and the caller hears the audio come back', async () => {
    await withPage(demo, null, async (page) => {
      const first = await page.read();
      assert.equal(first.number, NUMBER, 'the page pre-fills the demo number from config.json');
      const r = await page.call();
      assert.equal(r.state, 'in-call', `the call did not connect: ${r.message}`);
      assert.equal(r.message, SAYS.inCall);
      const phases = (await page.events()).map((e) => e.phase);
      for (const p of ['token', 'auth', 'connecting', 'ringing', 'in-call']) {
        assert.ok(phases.includes(p), `state ${p} was never shown: ${phases.join(' -> ')}`);
      }
      // 5 s of the fake microphone through edge -> echo trunk -> edge -> browser.
      await sleep(5000);
      const s = await page.stats();
      assert.ok(s.outboundPackets > 150, `the browser sent ${s.outboundPackets} packets in 5 s`);
      assert.ok(s.inboundPackets >= 0.9 * s.outboundPackets,
        `audio did not come back: ${s.inboundPackets} packets received for ${s.outboundPackets} sent`);
      const level = await page.maxLevel();
      assert.ok(level > 0.01, `the level meter never moved (max ${level})`);
      const end = await page.hangup();
      assert.equal(end.state, 'ended');
      assert.equal(end.message, SAYS.hungUp);
    });
  });

  it('a replayed customer token: the page says it was already used', async () => {
    // The hook trades the token once itself; the page's own exchange is then a replay.
    const hooks = `window.webtrunkDemoHooks = { afterToken: async (t) => {
      const cfg = await (await fetch('config.json')).json();
      const r = await fetch(cfg.auth_url + '/v1/token?account=' + t.account, { method: 'POST',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(t) });
      if (r.status !== 200) throw new Error('first use refused: ' + r.status);
      return t;
    } };`;
    await withPage(demo, hooks, async (page) => {
      const r = await page.call();
      assert.equal(r.state, 'failed');
      assert.equal(r.message, SAYS.replayed);
    });
  });

  it('a tampered edge token (allowed numbers widened): the edge refuses it and the page says so', async () => {
    const hooks = `window.webtrunkDemoHooks = { afterAuth: async (c) =>
      ({ ...c, username: c.username.replace(/~num=[^~]*/, '~num=*') }) };`;
    await withPage(demo, hooks, async (page) => {
      const r = await page.call();
      assert.equal(r.state, 'failed');
      assert.equal(r.message, SAYS.tampered);
    });
  });

  it('an edge that is not there: the page says the call server is unreachable', async () => {
    const hooks = `window.webtrunkDemoHooks = { afterAuth: async (c) => ({ ...c, uris: ['ws://127.0.0.1:9/'] }) };`;
    await withPage(demo, hooks, async (page) => {
      const r = await page.call();
      assert.equal(r.state, 'failed');
      assert.equal(r.message, SAYS.edgeDown('ws://127.0.0.1:9/'));
    });
  });

  it('a number outside the token\'s claims: the page says it is not allowed', async () => {
    await withPage(demo, null, async (page) => {
      const r = await page.call('+15559990000');
      assert.equal(r.state, 'failed');
      assert.equal(r.message, SAYS.number);
    });
  });
});

describe('the demo with a part set up wrong', () => {
  it('wrong customer secret (the servlet signs with another one): the page says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-demo-test-'));
    const file = path.join(dir, 'wrong.secret');
    fs.writeFileSync(file, 'not-the-secret-the-account-has-0123456789\n');
    try {
      await withDemo(['--servlet-secret-file', file], (demo) => withPage(demo, null, async (page) => {
        const r = await page.call();
        assert.equal(r.state, 'failed');
        assert.equal(r.message, SAYS.wrongSecret);
      }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('expired customer token (1 s lifetime, no skew, traded 2.5 s later): the page says it expired', async () => {
    const hooks = 'window.webtrunkDemoHooks = { afterToken: (t) => new Promise((r) => setTimeout(() => r(t), 2500)) };';
    await withDemo(['--customer-ttl', '1', '--clock-skew', '0'], (demo) => withPage(demo, hooks, async (page) => {
      const r = await page.call();
      assert.equal(r.state, 'failed');
      assert.ok(r.message.startsWith(SAYS.expired), r.message);
    }));
  });

  it('origin not allowed (the account lists another site): the page says this site may not call', async () => {
    await withDemo(['--account-origin', 'https://elsewhere.example'], (demo) => withPage(demo, null, async (page) => {
      const r = await page.call();
      assert.equal(r.state, 'failed');
      assert.equal(r.message, SAYS.origin);
    }));
  });
});

// The SHA-256 fingerprint of the certificate served on 127.0.0.1:port ("AB:CD:...").
function servedFingerprint(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, timeout: 3000 }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
    s.on('timeout', () => s.destroy(new Error(`no TLS handshake on port ${port}`)));
  });
}

describe('the demo over https (`webtrunk demo --tls`)', () => {
  let demo;
  before(async () => { demo = await startDemo(['--tls']); });
  after(async () => { if (demo) await demo.stop(); });

  it('prints https/wss URLs and the fingerprint of the certificate all three ports serve', async () => {
    assert.match(demo.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match(demo.authUrl, /^https:\/\//);
    assert.match(demo.edgeUrl, /^wss:\/\//);
    const printed = (demo.output().match(/SHA-256 fingerprint\s+(\S+)/) || [])[1];
    assert.ok(printed, `no fingerprint printed:\n${demo.output()}`);
    const certFile = (demo.output().match(/TLS certificate\s+(\S+)/) || [])[1];
    assert.equal(fs.statSync(path.join(path.dirname(certFile), 'demo.key')).mode & 0o777, 0o600, 'the key is private');
    for (const port of [demo.ports.http, demo.ports.auth, demo.ports.ws]) {
      assert.equal(await servedFingerprint(port), printed, `port ${port} serves the printed certificate`);
    }
  });

  it('the https page gets its token from the https servlet, trades it at the https auth service, calls over wss:// and hears the audio', async () => {
    // Records the edge credentials the auth service handed out (its URIs).
    const hooks = 'window.webtrunkDemoHooks = { afterAuth: async (c) => { window.edgeUris = c.uris; return c; } };';
    await withPage(demo, hooks, async (page) => {
      const where = await page.page.evaluate(() => ({ protocol: location.protocol, secure: window.isSecureContext }));
      assert.deepEqual(where, { protocol: 'https:', secure: true });
      const r = await page.call();
      assert.equal(r.state, 'in-call', `the call did not connect: ${r.message}`);
      assert.equal(r.message, SAYS.inCall);
      const uris = await page.page.evaluate(() => window.edgeUris);
      assert.deepEqual(uris, [demo.edgeUrl], 'the auth service hands out the edge\'s wss:// URI');
      await sleep(5000);
      const s = await page.stats();
      assert.ok(s.outboundPackets > 150, `the browser sent ${s.outboundPackets} packets in 5 s`);
      assert.ok(s.inboundPackets >= 0.9 * s.outboundPackets,
        `audio did not come back: ${s.inboundPackets} packets received for ${s.outboundPackets} sent`);
      const end = await page.hangup();
      assert.equal(end.state, 'ended');
    });
  });
});

describe('the demo with a certificate of its own (--tls-cert/--tls-key)', () => {
  let dir;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-demo-cert-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const makeCert = (name) => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`), '-days', '2',
      '-subj', '/CN=demo.test', '-addext', 'subjectAltName=DNS:demo.test,IP:127.0.0.1'], { stdio: 'ignore', timeout: 10000 });
    return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  };

  it('serves the given certificate on all three ports (TLS without --tls)', async () => {
    const c = makeCert('given');
    const want = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', c.cert], { timeout: 5000 })
      .toString().trim().split('=')[1];
    await withDemo(['--tls-cert', c.cert, '--tls-key', c.key], async (demo) => {
      assert.match(demo.url, /^https:/);
      assert.match(demo.output(), new RegExp(`SHA-256 fingerprint\\s+${want}`));
      assert.doesNotMatch(demo.output(), /self-signed/);
      for (const port of [demo.ports.http, demo.ports.auth, demo.ports.ws]) assert.equal(await servedFingerprint(port), want);
    });
  });

  it('a key that is not the certificate\'s: one clear line, nothing started', () => {
    const a = makeCert('a');
    const b = makeCert('b');
    const r = spawnSync(BIN, ['demo', '--tls-cert', a.cert, '--tls-key', b.key, '--http-port', '1'], { timeout: 10000 });
    assert.equal(r.status, 2, r.stderr.toString());
    assert.match(r.stderr.toString(), /webtrunk demo: --tls-cert\/--tls-key: .*(match|mismatch)/i);
    assert.doesNotMatch(r.stdout.toString(), /is running/);
  });
});
