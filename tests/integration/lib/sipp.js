// sipp as the SIP trunk (UAS) on 127.0.0.1 for integration tests. Every run is bounded (-m, -timeout,
// recv timeouts in the scenarios, a kill by PID), writes into its own temp directory, and records its
// message trace (-trace_msg), which the tests read to assert what the trunk received and sent.
'use strict';
const { spawn } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseSip } = require('./sipmsg');

const SIPP = process.env.SIPP_BIN || 'sipp';
const SCENARIOS = path.resolve(__dirname, '..', 'sipp');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every process started here, so that a test that times out cannot leave one behind.
const live = new Set();
process.on('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch (_) { /* gone */ } } });

function udpFree(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// `count` consecutive free UDP ports on 127.0.0.1 (the edge uses --sip-port P .. P+shards-1; sipp binds
// its media port M and M+2). Resolves with the first one.
async function freeUdpPorts(count = 1) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await udpFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free UDP ports found`);
}

// Whether 127.0.0.1:port is bound (UDP) or listening (TCP: state 0A).
function udpBound(port, transport = 'udp') {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const file = transport === 'tcp' ? '/proc/net/tcp' : '/proc/net/udp';
  try {
    return fs.readFileSync(file, 'utf8').split('\n')
      .some((l) => l.includes(`0100007F${hex}`) && (transport !== 'tcp' || / 0A /.test(l)));
  } catch (_) {
    return false;
  }
}

// sipp's -trace_msg file: blocks of
//   ----------------------------------------------- 2026-11-27 21:28:09.267582
//   UDP message received [302] bytes :            (or: UDP message sent (324 bytes):)
//   <blank>
//   <the SIP message>
function parseMessageFile(text) {
  const out = [];
  const blocks = text.split(/^-{20,} (\S+ \S+)\n/m);
  for (let i = 1; i < blocks.length; i += 2) {
    const m = blocks[i + 1].match(/^(\w+) message (received|sent)[^\n]*\n\n([\s\S]*)$/);
    if (!m) continue;
    const raw = m[3].replace(/\n+$/, '\n').replace(/\r?\n/g, '\r\n');
    const msg = parseSip(raw);
    msg.dir = m[2] === 'received' ? 'in' : 'out';
    msg.transport = m[1];
    msg.time = blocks[i];
    out.push(msg);
  }
  return out;
}

// Starts sipp as a UAS with tests/integration/sipp/<scenario>.xml on 127.0.0.1.
//   port: SIP port (default: a free one); timeoutSeconds: sipp's -timeout (it fails the run when
//   reached); calls: -m; transport: 'udp' or 'tcp' (sipp -t t1: one TCP socket, the edge connects to
//   it). Resolves once the SIP port is bound (listening, for TCP).
async function startSipp(scenario, { port, mediaPort, timeoutSeconds = 20, calls = 1, extraArgs = [],
  transport = 'udp' } = {}) {
  const file = path.join(SCENARIOS, `${scenario}.xml`);
  if (!fs.existsSync(file)) throw new Error(`no sipp scenario ${file}`);
  port = port || (await freeUdpPorts(1));
  mediaPort = mediaPort || (await freeUdpPorts(3));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `webtrunk-sipp-${scenario}-`));
  const messageFile = path.join(dir, 'messages.log');
  const errorFile = path.join(dir, 'errors.log');
  const args = [
    '-sf', file, '-i', '127.0.0.1', '-p', String(port), '-mi', '127.0.0.1', '-mp', String(mediaPort),
    '-m', String(calls), '-timeout', `${timeoutSeconds}s`, '-timeout_error', '-nostdin', '-aa',
    '-trace_msg', '-message_file', messageFile, '-trace_err', '-error_file', errorFile,
    ...(transport === 'tcp' ? ['-t', 't1'] : []), ...extraArgs,
  ];
  // stdout is sipp's curses screen: not kept.
  const child = spawn(SIPP, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    live.delete(child);
    resolve({ code, signal });
  }));
  let exit = null;
  exited.then((e) => (exit = e));
  const deadline = Date.now() + 5000;
  while (!udpBound(port, transport)) {
    if (exit) throw new Error(`sipp exited at start (${JSON.stringify(exit)}): ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sipp did not bind 127.0.0.1:${port} within 5 s: ${stderr}`);
    }
    await sleep(20);
  }
  const read = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch (_) { return ''; } };
  const sipp = {
    scenario, pid: child.pid, port, mediaPort, dir, args,
    get exit() { return exit; },
    stderr: () => stderr,
    // Everything sipp received and sent so far, parsed (sipp writes each message as it goes).
    messages: () => parseMessageFile(read(messageFile)),
    received: () => sipp.messages().filter((m) => m.dir === 'in'),
    sent: () => sipp.messages().filter((m) => m.dir === 'out'),
    // Requests of a method / responses with a status that sipp received.
    requests: (method) => sipp.received().filter((m) => m.method === method),
    errors: () => read(errorFile),
    // Resolves with the first received message matching pred, or null after timeoutMs.
    async waitFor(pred, timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = sipp.received().find(pred);
        if (hit) return hit;
        if (Date.now() > end) return null;
        await sleep(25);
      }
    },
    // Resolves with {code, signal} once sipp ends by itself, or null after timeoutMs.
    async waitExit(timeoutMs = 5000) {
      let t;
      const r = await Promise.race([exited, new Promise((res) => { t = setTimeout(() => res(null), timeoutMs); })]);
      clearTimeout(t);
      return r;
    },
    // Stops sipp (SIGTERM, then SIGKILL) and removes its directory unless `keep`. sipp exits 0 on
    // SIGTERM whatever happened, so a test judges sipp by `exit` seen before stop(), and the trace.
    async stop({ keep = !!process.env.KEEP_LOGS } = {}) {
      if (!exit) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(t);
      }
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    },
    // Text for a failure message: the trace in short, and sipp's unexpected-message log.
    describe() {
      const lines = sipp.messages().map((m) => `  ${m.dir === 'in' ? '->' : '<-'} ${m.startLine}`);
      return `sipp ${scenario} on 127.0.0.1:${port} (exit ${JSON.stringify(exit)}):\n${lines.join('\n') || '  (no messages)'}` +
        (sipp.errors() ? `\n  errors.log: ${sipp.errors().trim().split('\n').slice(-5).join(' | ')}` : '');
    },
  };
  return sipp;
}

module.exports = { startSipp, freeUdpPorts, parseMessageFile, SCENARIOS };
