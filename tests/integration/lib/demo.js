// `webtrunk demo` for the end-to-end tests: the real binary with all its parts (echo trunk, auth
// service, edge, servlet serving web/dist) on free loopback ports, and the demo page driven in
// headless Chromium the way a person would: type a number, press Call, read the page.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { BIN, ROOT, freePort } = require('./edge');
const { withTimeout } = require('./browser');

const WEB = process.env.WEBTRUNK_WEB || path.join(ROOT, 'web', 'dist');

// Starts `webtrunk demo` with `args`; resolves once it printed that it is running. The free ports are
// picked as TCP ports; on a shared machine another program may hold the same number in UDP (the
// SIP ports) by the time the demo binds it: then it is started again on fresh ports, twice at most.
async function startDemo(args = [], opts = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDemoOnce(args, opts);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test(e.message)) throw e;
    }
  }
}

async function startDemoOnce(args, { timeoutMs = 30000 } = {}) {
  if (!fs.existsSync(path.join(WEB, 'app.js'))) {
    throw new Error(`${WEB}/app.js is missing: build the page (cd web && npm ci && npm run build; scripts/setup.sh does)`);
  }
  const ports = {};
  for (const k of ['http', 'auth', 'ws', 'sip', 'trunk']) ports[k] = await freePort();
  const child = spawn(BIN, ['demo', '--web', WEB, '--keep', '--http-port', ports.http, '--auth-port', ports.auth,
    '--ws-port', ports.ws, '--sip-port', ports.sip, '--trunk-port', ports.trunk, '--ring-ms', '300',
    ...args].map(String), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + timeoutMs;
  while (!out.includes('webtrunk demo is running')) {
    if (child.exitCode !== null) {
      const dir = (out.match(/logs kept in (\/tmp\/webtrunk-demo-\S+?)\/?$/m) || [])[1];
      if (dir && /Address already in use/.test(out)) fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`webtrunk demo exited (${child.exitCode}):\n${out}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`webtrunk demo did not start within ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const dir = (out.match(/logs, secrets, account db\s+(\S+)\//) || [])[1];
  // The URLs as the demo printed them (https:// and wss:// with --tls).
  const printed = (label) => (out.match(new RegExp(`${label}\\s+(\\S+)`)) || [])[1];
  return {
    ports,
    dir,
    url: printed('demo page \\+ token servlet'),
    authUrl: printed('auth service').replace(/\/$/, ''),
    edgeUrl: printed('edge \\(SIP over WebSocket\\)'),
    output: () => out,
    // The last lines of each part's log, for a failure message.
    logs(lines = 12) {
      if (!dir) return '';
      return ['echo-trunk', 'auth', 'edge', 'servlet'].map((n) => {
        let text = '';
        try { text = fs.readFileSync(path.join(dir, `${n}.log`), 'utf8'); } catch (_) { /* not started */ }
        return `--- ${n}.log\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
      }).join('\n');
    },
    // SIGTERM (the demo stops its parts by PID), SIGKILL after a bounded wait; removes the temp dir.
    async stop(timeout = 10000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), timeout);
        await exited;
        clearTimeout(t);
      }
      if (dir && dir.startsWith('/tmp/webtrunk-demo-')) fs.rmSync(dir, { recursive: true, force: true });
      return exited;
    },
  };
}

// The demo page in a fresh tab. `hooks`: source of a function body run before the page's script,
// e.g. "window.webtrunkDemoHooks = { afterToken: async (t) => t }".
async function openDemoPage(browser, url, hooks) {
  const page = await browser.context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text().slice(0, 300)));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  if (hooks) await page.addInitScript(hooks);
  await withTimeout(page.goto(url), 10000, 'demo page load');
  await page.waitForFunction(() => document.getElementById('state').dataset.state === 'idle', null, { timeout: 10000 });
  const read = () => page.evaluate(() => ({
    state: document.getElementById('state').dataset.state,
    stateText: document.getElementById('state').textContent,
    message: document.getElementById('message').textContent,
    number: document.getElementById('number').value,
  }));
  return {
    page,
    read,
    // Types the number (if given), presses Call and waits until the call is up or over.
    async call(number, timeoutMs = 20000) {
      if (number !== undefined) await page.fill('#number', number);
      await page.click('#call');
      await page.waitForFunction(
        () => ['in-call', 'failed', 'ended'].includes(document.getElementById('state').dataset.state),
        null, { timeout: timeoutMs });
      return read();
    },
    async hangup(timeoutMs = 5000) {
      await page.click('#hangup');
      await page.waitForFunction(() => ['ended', 'failed'].includes(document.getElementById('state').dataset.state),
        null, { timeout: timeoutMs });
      return read();
    },
    stats: () => page.evaluate(() => window.webtrunkDemo.stats()),
    maxLevel: () => page.evaluate(() => window.webtrunkDemo.maxLevel()),
    events: () => page.evaluate(() => window.webtrunkDemo.events()),
    async describe() {
      try {
        const evs = await page.evaluate(() => window.webtrunkDemo.events());
        const pageLog = await page.evaluate(() => document.getElementById('log').textContent);
        return `page states: ${evs.map((e) => `${e.phase}(${e.text})`).join(' -> ')}\npage log:\n${pageLog}\n` +
          `console: ${consoleLines.slice(-10).join(' | ')}`;
      } catch (e) {
        return `page: ${e.message}; console: ${consoleLines.slice(-10).join(' | ')}`;
      }
    },
    close: () => withTimeout(page.close(), 5000, 'page close').catch(() => {}),
  };
}

module.exports = { startDemo, openDemoPage, WEB };
