// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, with JsSIP loaded from a
// page served on 127.0.0.1, with the flags below (fake media devices, loopback candidates, no mDNS
// hiding of local addresses). Each launch uses a fresh --user-data-dir, removed on close. Every call
// into the page is bounded.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { parseSip } = require('./sipmsg');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const HERE = path.resolve(__dirname, '..');
// The caller pages (page/), JsSIP's and SIP.js's, each with the same window.T; both load page/common.js.
const PAGES = { jssip: 'index.html', sipjs: 'sipjs.html' };
// Each page's library, bundled by `npm run build` (esbuild).
const BUNDLES = ['jssip.js', 'sip.js'];

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--disable-domain-reliability', '--no-pings',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
  // wss:// and https:// tests use certificates made at test time (loopback only).
  '--ignore-certificate-errors',
];

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout: ${what} after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

// The caller pages and the library bundles on 127.0.0.1 (ephemeral port). `url` is the JsSIP page;
// pageUrl(client) names either.
function servePage() {
  const files = { '/': path.join(HERE, 'page', PAGES.jssip), '/common.js': path.join(HERE, 'page', 'common.js') };
  for (const p of Object.values(PAGES)) files[`/${p}`] = path.join(HERE, 'page', p);
  for (const b of BUNDLES) {
    files[`/dist/${b}`] = path.join(HERE, 'dist', b);
    if (!fs.existsSync(files[`/dist/${b}`])) {
      throw new Error(`${files[`/dist/${b}`]} is missing: run \`npm run build\` in tests/integration (scripts/setup.sh --tests does)`);
    }
  }
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'application/javascript' };
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      const file = files[req.url.split('?')[0]];
      if (!file) { res.writeHead(404); res.end('not found'); return; }
      fs.readFile(file, (err, data) => {
        if (err) { res.writeHead(500); res.end(String(err)); return; }
        res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
        res.end(data);
      });
    });
    srv.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${srv.address().port}/`,
      pageUrl: (client = 'jssip') => {
        if (!PAGES[client]) throw new Error(`no caller page for ${client} (known: ${Object.keys(PAGES)})`);
        return `http://127.0.0.1:${srv.address().port}/${PAGES[client]}`;
      },
      close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
    }));
  });
}

async function launchBrowser() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: FLAGS,
      ignoreDefaultArgs: ['--enable-automation'], timeout: 30000,
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    context,
    async close() {
      try { await withTimeout(context.close(), 10000, 'chromium close'); } catch (_) { /* killed with the process */ }
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// One caller (JsSIP or SIP.js, by the page at pageUrl): a fresh page (tab) in the browser, with the
// page's T.* functions wrapped.
async function openCaller(browser, pageUrl) {
  const page = await browser.context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text().slice(0, 500)));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await withTimeout(page.goto(pageUrl), 10000, 'page load');
  const ev = (fn, arg, ms = 10000, what = 'page call') => withTimeout(page.evaluate(fn, arg), ms, what);
  const caller = {
    page,
    // Starts the UA: { wsUrl, uri, authUser, password, register }.
    start: (opts) => ev((o) => window.T.start(o), opts),
    call: (target, opts = {}) => ev(([t, o]) => window.T.call(t, o), [target, opts]),
    // First event of the given type(s): { type, status, reason, cause, originator, ... } or
    // { type: 'timeout' }.
    waitFor: (types, timeoutMs = 5000) =>
      ev(([t, ms]) => window.T.waitFor(t, ms), [types, timeoutMs], timeoutMs + 3000, `waitFor ${types}`),
    hangup: () => ev(() => window.T.hangup()),
    sendDTMF: (tones, opts = {}) => ev(([t, o]) => window.T.sendDTMF(t, o), [tones, opts]),
    // SIP.js page only: re-INVITE to hold (true) or resume (false); resolves with its final status.
    hold: (held) => ev((h) => window.T.hold(h), held, 10000, 'hold re-INVITE'),
    // getStats in short: { outbound: {packetsSent}, inbound: {packetsReceived}, transport: {dtlsState,
    // srtpCipher, ...}, pair: {state, remote} }.
    stats: () => ev(() => window.T.stats()),
    dropWebSocket: () => ev(() => window.T.dropWebSocket()),
    stop: () => ev(() => window.T.stop()),
    events: () => ev(() => window.T.events()),
    sdp: () => ev(() => window.T.sdp()),
    // The SIP messages on the browser's WebSocket(s), parsed: [{ dir: 'in'|'out', t, msg }].
    async sip() {
      const frames = await ev(() => window.T.sip());
      return frames.filter((f) => f.dir !== 'close' && f.data.trim()).map((f) => ({ dir: f.dir, t: f.t, msg: parseSip(f.data) }));
    },
    async close() {
      try { await caller.stop(); } catch (_) { /* page gone */ }
      await new Promise((r) => setTimeout(r, 100));
      try { await withTimeout(page.close(), 5000, 'page close'); } catch (_) { /* browser closes it */ }
    },
    // Text for a failure message: the page's events and the SIP start lines the browser saw.
    async describe() {
      try {
        const evs = await caller.events();
        const sip = await caller.sip();
        return `browser events: ${evs.map((e) => JSON.stringify(e)).join('\n  ')}\n` +
          `browser SIP:\n${sip.map((s) => `  ${s.dir === 'out' ? '->' : '<-'} ${s.msg.startLine}`).join('\n')}`;
      } catch (e) {
        return `browser: ${e.message}; console: ${consoleLines.slice(-20).join(' | ')}`;
      }
    },
  };
  return caller;
}

// One Chromium and one test page for a whole test file: registers node:test's before() and after()
// to start and close them, and returns the object that holds them once before() has run.
function useSharedBrowser() {
  const { before, after } = require('node:test');
  const shared = { browser: null, pageServer: null };
  before(async () => {
    shared.pageServer = await servePage();
    shared.browser = await launchBrowser();
  });
  after(async () => {
    if (shared.browser) await shared.browser.close();
    if (shared.pageServer) await shared.pageServer.close();
  });
  return shared;
}

module.exports = { launchBrowser, servePage, openCaller, useSharedBrowser, withTimeout, FLAGS, CHROMIUM };
