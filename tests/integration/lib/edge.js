// Starts and stops the real webtrunk binary for integration tests. Loopback only; every wait is
// bounded; processes are stopped by the PID we started.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = process.env.WEBTRUNK_BIN || path.join(ROOT, 'build', 'webtrunk');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function httpGet(url, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts `webtrunk edge` with the given extra args; resolves once /healthz answers 200.
// logLevel: the edge's --log-level (default warn).
// `healthz`: where /healthz answers once the edge is up (its --admin-listen, if given), default the
// WebSocket port.
async function startEdge(args = [], { timeoutMs = 10000, logLevel = 'warn', healthz } = {}) {
  const port = await freePort();
  const wsAddr = `127.0.0.1:${port}`;
  const child = spawn(BIN, ['edge', '--ws', wsAddr, '--log-level', logLevel, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`edge exited early (${child.exitCode}): ${log}`);
    try {
      const r = await httpGet(`${healthz || `http://${wsAddr}`}/healthz`, 500);
      if (r.status === 200) break;
    } catch (_) { /* not up yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`edge did not answer /healthz within ${timeoutMs} ms: ${log}`);
    }
    await sleep(50);
  }
  return {
    child,
    pid: child.pid,
    port,
    url: `ws://${wsAddr}`,
    http: `http://${wsAddr}`,
    log: () => log,
    // SIGTERM, then SIGKILL after a bounded wait; resolves with the exit status.
    async stop(timeout = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), timeout);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

function procStatus(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1] || 0);
  return { rssKiB: kb('VmRSS'), fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}

async function metric(edge, name) {
  const r = await httpGet(`${edge.http}/metrics`);
  const m = r.body.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

module.exports = { BIN, ROOT, startEdge, freePort, httpGet, sleep, procStatus, metric };
