// dnsmasq as a test's DNS server: NAPTR, SRV and A records given on its command line, on a free
// port on loopback, nothing forwarded. DNSMASQ is undefined when the package is not installed (tests
// skip then).
'use strict';
const { spawn } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');

const DNSMASQ = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => fs.existsSync(p));

// dnsmasq in the foreground on 127.0.0.1:port with only the records given; names under .test it
// does not know are NXDOMAIN (--local), nothing is forwarded.
async function startDnsmasq(port, records) {
  const args = ['--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address', '127.0.0.1',
    '--port', String(port), '--local=/test/', '--local-ttl=30', '--log-queries', '--log-facility=-',
    '--pid-file=', '--user=', ...records];
  const child = spawn(DNSMASQ, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  // Ready once it answers a query (an A query for "ready.test": NXDOMAIN is an answer too).
  const end = Date.now() + 5000;
  while (!(await answers(port))) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${log}`);
    if (Date.now() > end) { child.kill('SIGKILL'); throw new Error(`dnsmasq did not answer within 5 s: ${log}`); }
  }
  return {
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

// True if a DNS server answers on 127.0.0.1:port within 200 ms.
function answers(port) {
  const name = Buffer.concat([Buffer.from([5]), Buffer.from('ready'), Buffer.from([4]), Buffer.from('test'), Buffer.from([0])]);
  const query = Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 1, 0, 1])]);
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (ok) => { clearTimeout(t); s.close(); resolve(ok); };
    const t = setTimeout(() => done(false), 200);
    s.on('message', () => done(true));
    s.on('error', () => done(false));
    s.send(query, port, '127.0.0.1');
  });
}

module.exports = { DNSMASQ, startDnsmasq };
