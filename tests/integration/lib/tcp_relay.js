// A TCP relay on 127.0.0.1 between the browser and the edge, so that a test can drop a WebSocket the
// way a network does: cut() resets both TCP connections (RST), with no WebSocket close frame;
// freeze() makes the browser vanish without the edge hearing of it (nothing more is relayed either
// way and the edge's connection stays open, whatever the browser side does: a tab gone with its
// network, no BYE, no close, no RST).
'use strict';
const net = require('node:net');

function startTcpRelay(targetPort) {
  const pairs = new Set();
  const srv = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    const done = () => { pairs.delete(pair); client.destroy(); upstream.destroy(); };
    // A frozen pair outlives its browser side: only the edge's side (or close()) ends it.
    client.on('error', () => (pair.frozen ? client.destroy() : done())).on('close', () => (pair.frozen ? null : done()));
    upstream.on('error', done).on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve({
      port: srv.address().port,
      url: `ws://127.0.0.1:${srv.address().port}`,
      connections: () => pairs.size,
      // RST on both sides of every relayed connection.
      cut() {
        const n = pairs.size;
        for (const { client, upstream } of pairs) { client.resetAndDestroy(); upstream.resetAndDestroy(); }
        pairs.clear();
        return n;
      },
      freeze() {
        let n = 0;
        for (const p of pairs) {
          if (p.frozen) continue;
          p.frozen = true;
          n++;
          p.client.unpipe(p.upstream);
          p.upstream.unpipe(p.client);
          p.client.pause();
          p.upstream.on('data', () => {});  // read and drop what the edge sends (its BYE)
        }
        return n;
      },
      close() {
        for (const { client, upstream } of pairs) { client.destroy(); upstream.destroy(); }
        return new Promise((r) => srv.close(() => r()));
      },
    }));
  });
}

module.exports = { startTcpRelay };
