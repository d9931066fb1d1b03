// The SIP edge under test, pluggable: by default the real binary (`webtrunk edge` with a trunk, SIP
// ports and an edge secret file); WEBTRUNK_REFERENCE=kamailio starts the reference chain instead
// (lib/reference.js) to check the harness itself.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startEdge } = require('./edge');
const { freeUdpPorts } = require('./sipp');

const REFERENCE = process.env.WEBTRUNK_REFERENCE || '';
if (REFERENCE && REFERENCE !== 'kamailio') throw new Error(`WEBTRUNK_REFERENCE=${REFERENCE}: only "kamailio" is known`);
const KIND = REFERENCE || 'webtrunk';

// An edge left running by a case that timed out is killed when the test process exits.
const live = new Set();
process.on('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch (_) { /* gone */ } } });

// Starts the edge in front of a trunk on udp:127.0.0.1:trunkPort (trunkTransport 'tcp': tcp:..., 'tls': tls:...;
// trunkHost: another host than 127.0.0.1, e.g. a name a TLS trunk's certificate carries). secrets: the edge secrets (one per
// line in --edge-secret-file). routes: instead of the trunk, the content of a --routes file
// (edge.routesFile, for a test to rewrite). healthz: the --admin-listen URL when extraArgs give one.
// Resolves with { kind, url, log(), stop(), ... }.
async function startSipEdge({ trunkPort, secrets, shards = 2, extraArgs = [], routes, trunkTransport = 'udp',
  trunkHost = '127.0.0.1', healthz }) {
  if (KIND === 'kamailio') {
    if (routes !== undefined) throw new Error('the reference chain has no --routes');
    const { startKamailio } = require('./reference');
    return startKamailio({ trunkPort, secrets });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-edge-'));
  const secretFile = path.join(dir, 'edge-secrets');
  fs.writeFileSync(secretFile, secrets.join('\n') + '\n', { mode: 0o600 });
  const routesFile = path.join(dir, 'routes');
  if (routes !== undefined) fs.writeFileSync(routesFile, routes);
  const sipPort = await freeUdpPorts(shards);
  let edge;
  try {
    edge = await startEdge([
      ...(routes !== undefined ? ['--routes', routesFile] : ['--trunk', `${trunkTransport}:${trunkHost}:${trunkPort}`]), '--sip-listen', '127.0.0.1', '--sip-port', String(sipPort),
      '--edge-secret-file', secretFile, '--shards', String(shards),
      // sipp counts each keep-alive it answers (-aa) as one of its -m calls, so a -m 1 trunk would
      // take the first OPTIONS for its call and never answer the INVITE: no keep-alives here
      // (tests/abuse/dead_trunk.test.js runs them against sipp with room in -m).
      '--trunk-ping', '0', ...extraArgs,
    ], { logLevel: process.env.WEBTRUNK_LOG_LEVEL || 'info', healthz });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  live.add(edge.child);
  edge.child.once('exit', () => live.delete(edge.child));
  const stop = edge.stop.bind(edge);
  return Object.assign(edge, {
    kind: 'webtrunk', sipPort, dir, routesFile,
    async stop(...a) {
      const r = await stop(...a);
      fs.rmSync(dir, { recursive: true, force: true });
      return r;
    },
  });
}

// JsSIP credentials as a page configured for Kamailio's auth_ephemeral mints them: username
// "<expiry>:<id>", password base64(HMAC-SHA1(secret, username)).
function ephemeralToken({ user, secret, ttl = 3600 }) {
  const username = `${Math.floor(Date.now() / 1000) + ttl}:${user}`;
  return { username, password: crypto.createHmac('sha1', secret).update(username).digest('base64') };
}

module.exports = { startSipEdge, ephemeralToken, KIND };
