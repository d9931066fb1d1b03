// The reference chain for validating this harness without the edge: Kamailio with auth_ephemeral
// (tests/integration/kamailio/kamailio.cfg) in place of `webtrunk edge`. Selected with
// WEBTRUNK_REFERENCE=kamailio; never used in CI (the default mode tests the real binary).
//
// That config listens on fixed ports (UDP 5060, ws 8080) and relays INVITEs to 127.0.0.1:5080. A
// copy is written to a temp dir with free ports, the test's trunk port and the test's secrets, and with
// the token check the edge has (issue 3) added: INVITEs are challenged too (407), and an expired or
// invalid token is answered 403 with a reason instead of a new challenge. Each patch must apply
// exactly, or the start fails with the line it looked for.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { freePort } = require('./edge');
const { freeUdpPorts } = require('./sipp');

const KAMAILIO = process.env.KAMAILIO_BIN || 'kamailio';
const KAMAILIO_CFG = path.join(__dirname, '..', 'kamailio', 'kamailio.cfg');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const live = new Set();
process.on('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch (_) { /* gone */ } } });

const EPHAUTH_ROUTE = `
# [harness] The edge's token check (issue 3): challenge when there are no credentials (or a stale
# nonce), 403 with a reason for an expired or invalid token (auth_ephemeral return codes: -7 expired,
# -5 no credentials, -4 stale nonce, -2 wrong password, -1 bad username).
route[EPHAUTH] {
	autheph_check("$fd");
	$var(rc) = $rc;
	if ($var(rc) == 1) return;
	if ($var(rc) == -5 || $var(rc) == -4) {
		xlog("L_INFO", "$rm challenge for $fu (auth user '$au')\\n");
		auth_challenge("$fd", "0");
		exit;
	}
	xlog("L_INFO", "$rm token refused ($var(rc)) for $fu (auth user '$au')\\n");
	if ($var(rc) == -7) {
		sl_send_reply("403", "Forbidden: token expired");
	} else {
		sl_send_reply("403", "Forbidden: invalid token");
	}
	exit;
}
`;

function patchConfig(cfg, { wsPort, sipPort, trunkPort, secrets }) {
  const must = (from, to) => {
    if (!cfg.includes(from)) throw new Error(`kamailio.cfg changed: cannot find ${JSON.stringify(from)} in ${KAMAILIO_CFG}`);
    cfg = cfg.split(from).join(to);
  };
  must('listen=udp:127.0.0.1:5060', `listen=udp:127.0.0.1:${sipPort}`);
  must('listen=tcp:127.0.0.1:8080', `listen=tcp:127.0.0.1:${wsPort}`);
  must('if ($Rp != 8080)', `if ($Rp != ${wsPort})`);
  must('#!define TRUNK_URI "sip:127.0.0.1:5080"', `#!define TRUNK_URI "sip:127.0.0.1:${trunkPort}"`);
  must('modparam("auth_ephemeral", "secret", EPH_SECRET)',
    secrets.map((s) => `modparam("auth_ephemeral", "secret", "${s}")`).join('\n'));
  must(`	if (!autheph_check("$fd")) {
		xlog("L_INFO", "REGISTER challenge for $fu (auth user '$au')\\n");
		auth_challenge("$fd", "0");
		exit;
	}`, '	route(EPHAUTH);');
  must('	if (is_method("INVITE|SUBSCRIBE|MESSAGE")) record_route();', `	# [harness] INVITEs carry the token too (407 challenge), as at the edge.
	if (is_method("INVITE")) {
		route(EPHAUTH);
		if (!autheph_check_from()) {
			sl_send_reply("403", "Forbidden: auth user does not match From");
			exit;
		}
		consume_credentials();
	}
	if (is_method("INVITE|SUBSCRIBE|MESSAGE")) record_route();`);
  return cfg + EPHAUTH_ROUTE;
}

function wsOpens(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['sip'], { handshakeTimeout: 500 });
    ws.once('open', () => { ws.terminate(); resolve(true); });
    ws.once('error', () => resolve(false));
  });
}

// Same shape as startEdge() in edge.js: { url, pid, log(), stop() }.
async function startKamailio({ trunkPort, secrets, timeoutMs = 10000 }) {
  const wsPort = await freePort();
  const sipPort = await freeUdpPorts(1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webtrunk-kamailio-'));
  const cfgFile = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(cfgFile, patchConfig(fs.readFileSync(KAMAILIO_CFG, 'utf8'), { wsPort, sipPort, trunkPort, secrets }));
  const runDir = path.join(dir, 'run');
  fs.mkdirSync(runDir);
  const child = spawn(KAMAILIO, ['-f', cfgFile, '-DD', '-E', '-Y', runDir, '-m', '64', '-M', '8'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); }));
  const url = `ws://127.0.0.1:${wsPort}`;
  const deadline = Date.now() + timeoutMs;
  while (!(await wsOpens(url))) {
    if (child.exitCode !== null) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`kamailio exited early (${child.exitCode}): ${log}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`kamailio did not accept a WebSocket within ${timeoutMs} ms: ${log}`);
    }
    await sleep(100);
  }
  return {
    kind: 'kamailio', child, pid: child.pid, port: wsPort, sipPort, url, dir,
    log: () => log,
    async stop(timeout = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), timeout);
        await exited;
        clearTimeout(t);
      }
      if (!process.env.KEEP_LOGS) fs.rmSync(dir, { recursive: true, force: true });
      return exited;
    },
  };
}

module.exports = { startKamailio, patchConfig, KAMAILIO_CFG };
