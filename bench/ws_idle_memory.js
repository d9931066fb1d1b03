#!/usr/bin/env node
// Edge memory per idle WebSocket connection: opens N connections (subprotocol sip) to a real
// `webtrunk edge`, reads the edge's RSS before and after, closes them, repeats once (the second
// round shows whether memory is reused), and prints KiB per connection. Loopback only; bounded.
//   node bench/ws_idle_memory.js [N=10000] [shards=1] [tls]
// `tls`: the same over wss:// (a --wss port with a self-signed certificate made by openssl).
// Needs `scripts/setup.sh --tests` (for the npm `ws` package) and a built `build/webtrunk`.
'use strict';
const path = require('node:path');
const itDir = path.join(__dirname, '..', 'tests', 'integration');
const WebSocket = require(require.resolve('ws', { paths: [itDir] }));
const { startEdge, sleep, procStatus } = require(path.join(itDir, 'lib', 'edge'));

const N = Number(process.argv[2] || 10000);
const shards = String(process.argv[3] || 1);
const tls = process.argv[4] === 'tls';

(async () => {
  const deadline = setTimeout(() => { console.error('ws_idle_memory: over 120 s, giving up'); process.exit(1); }, 120000);
  // Every connection comes from 127.0.0.1: lift the per-address admission limits.
  let tlsArgs = [];
  let url = null;
  let dir = null;
  if (tls) {
    const fs = require('node:fs');
    const os = require('node:os');
    const { execFileSync } = require('node:child_process');
    const { freePort } = require(path.join(itDir, 'lib', 'edge'));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-bench-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', path.join(dir, 'e.key'), '-out', path.join(dir, 'e.crt'), '-days', '1', '-subj', '/CN=edge.test'],
    { stdio: 'ignore', timeout: 10000 });
    const port = await freePort();
    tlsArgs = ['--wss', `127.0.0.1:${port}`, '--tls-cert', path.join(dir, 'e.crt'), '--tls-key', path.join(dir, 'e.key')];
    url = `wss://127.0.0.1:${port}`;
  }
  const edge = await startEdge([...tlsArgs, '--shards', shards, '--no-auth', '--sip-port', '0', '--max-connections-per-address',
    '10000000', '--max-new-connections-per-address', '1000000']);
  const open = () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url || edge.url, ['sip'], { rejectUnauthorized: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
  try {
    for (let round = 0; round < 2; round++) {
      await sleep(300);
      const base = procStatus(edge.pid);
      const socks = [];
      for (let i = 0; i < N; i += 250) socks.push(...(await Promise.all(Array.from({ length: Math.min(250, N - i) }, open))));
      await sleep(500);
      const held = procStatus(edge.pid);
      const per = (held.rssKiB - base.rssKiB) / N;
      console.log(`round ${round}: ${N} idle ${tls ? 'wss://' : 'ws://'} connections on ${shards} shard(s): edge RSS ${base.rssKiB} -> ` +
                  `${held.rssKiB} KiB = ${per.toFixed(2)} KiB per connection (fds +${held.fds - base.fds})`);
      await Promise.all(socks.map((ws) => new Promise((r) => { ws.once('close', r); ws.close(1000); })));
    }
  } finally {
    await edge.stop();
    if (dir) require('node:fs').rmSync(dir, { recursive: true, force: true });
    clearTimeout(deadline);
  }
})().catch((e) => { console.error(e); process.exit(1); });
