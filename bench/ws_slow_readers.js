#!/usr/bin/env node
// Edge memory under slow readers: 10 WebSocket connections send SIP OPTIONS in batches of 500 for
// 6 s and never read the answers; the edge's RSS is printed every second and at the end. The edge is
// stopped early if its RSS passes 600 MiB. Loopback only; bounded in time. Extra arguments go to
// `webtrunk edge` (e.g. --max-unauth-requests-per-address 1000000, so the send-queue bound is what
// stops the readers rather than the request rate).
//   WEBTRUNK_BIN=build/webtrunk node bench/ws_slow_readers.js [edge flags...]
'use strict';
const path = require('node:path');
const { startEdge, sleep, procStatus } = require(path.join(__dirname, '..', 'tests', 'integration', 'lib', 'edge'));
const { connect, sipRequest } = require(path.join(__dirname, '..', 'tests', 'abuse', 'lib', 'raw_ws'));

(async () => {
  const edge = await startEdge(['--shards', '1', '--no-auth', '--sip-port', '0', ...process.argv.slice(2)]);
  await sleep(300);
  const base = procStatus(edge.pid).rssKiB;
  const floods = await Promise.all(Array.from({ length: 10 }, () => connect(edge.port)));
  for (const ws of floods) ws.pause();
  const batch = Array.from({ length: 500 }, () => sipRequest('OPTIONS'));
  const t0 = Date.now();
  let last = t0;
  let peak = base;
  while (Date.now() - t0 < 6000) {
    for (const ws of floods) if (!ws.ended && ws.sock.writableLength < (4 << 20)) for (const m of batch) ws.send(m);
    await sleep(5);
    const rss = procStatus(edge.pid).rssKiB;
    peak = Math.max(peak, rss);
    if (Date.now() - last >= 1000) {
      last = Date.now();
      console.log(`t=${((last - t0) / 1000).toFixed(1)}s rss=${(rss / 1024).toFixed(0)} MiB`);
    }
    if (rss > 600 * 1024) {
      console.log('RSS over 600 MiB: stopping');
      break;
    }
  }
  console.log(`base=${(base / 1024).toFixed(1)} MiB peak=${(peak / 1024).toFixed(1)} MiB growth=${((peak - base) / 1024).toFixed(1)} MiB`);
  for (const ws of floods) ws.destroy();
  await edge.stop();
})();
