// A UDP relay placed as the trunk's media address (the trunk's SDP names it), in front of sipp's
// -rtp_echo: it forwards the edge's RTP to sipp and sipp's echo back to the edge, and records the
// RTP headers it saw from the edge, so a test can assert what really reached the trunk (sipp cannot
// show RTP contents): payload types, RFC 4733 events, sequence numbers. RTCP (port + 1) is read and
// counted, not forwarded. Loopback only; close() ends it.
'use strict';
const dgram = require('node:dgram');

function bind(port) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => { s.removeListener('error', reject); resolve(s); });
  });
}

// RFC 3550 §5.1 fixed header, and the RFC 4733 §2.3 event payload when `dtmfPt` matches.
function parseRtp(buf, dtmfPt) {
  if (buf.length < 12 || (buf[0] >> 6) !== 2) return null;
  const cc = buf[0] & 0x0f;
  let off = 12 + 4 * cc;
  if (buf[0] & 0x10) {
    if (buf.length < off + 4) return null;
    off += 4 + 4 * buf.readUInt16BE(off + 2);
  }
  const p = {
    pt: buf[1] & 0x7f, marker: !!(buf[1] & 0x80), seq: buf.readUInt16BE(2), ts: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8), len: buf.length, payloadLen: buf.length - off,
  };
  if (p.pt === dtmfPt && buf.length >= off + 4) {
    p.event = buf[off];
    p.end = !!(buf[off + 1] & 0x80);
    p.volume = buf[off + 1] & 0x3f;
    p.duration = buf.readUInt16BE(off + 2);
  }
  return p;
}

// An even RTP port P with P+1 free too (RFC 3550 §11), both bound.
async function bindPair() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 2 * (10000 + Math.floor(Math.random() * 14000));
    let rtp;
    try {
      rtp = await bind(base);
      const rtcp = await bind(base + 1);
      return { rtp, rtcp, port: base };
    } catch (_) {
      if (rtp) rtp.close();
    }
  }
  throw new Error('no free even/odd UDP port pair for the RTP relay');
}

// echoPort: sipp's -mp (its -rtp_echo socket). dtmfPt: the trunk's telephone-event payload type.
async function startRtpRelay({ echoPort, dtmfPt = 101, keep = 20000 }) {
  const { rtp, rtcp, port } = await bindPair();
  const fromEdge = [];  // parsed headers, in arrival order (the first `keep`)
  let edgeAddr = null;  // where the edge's packets come from (its trunk-side RTP port)
  const counts = { fromEdge: 0, toEdge: 0, fromEcho: 0, rtcp: 0, notRtp: 0 };
  rtp.on('message', (msg, rinfo) => {
    if (rinfo.port === echoPort && rinfo.address === '127.0.0.1') {
      counts.fromEcho++;
      if (edgeAddr) { rtp.send(msg, edgeAddr.port, edgeAddr.address); counts.toEdge++; }
      return;
    }
    edgeAddr = { address: rinfo.address, port: rinfo.port };
    counts.fromEdge++;
    const p = parseRtp(msg, dtmfPt);
    if (!p) counts.notRtp++;
    else if (fromEdge.length < keep) fromEdge.push({ ...p, t: Date.now() });
    rtp.send(msg, echoPort, '127.0.0.1');
  });
  rtcp.on('message', () => { counts.rtcp++; });
  return {
    port,
    counts: () => ({ ...counts }),
    edgeAddress: () => edgeAddr,
    packets: () => fromEdge.slice(),
    // RFC 4733 packets from the edge (payload type dtmfPt).
    dtmf: () => fromEdge.filter((p) => p.pt === dtmfPt),
    close() {
      return Promise.all([new Promise((r) => rtp.close(r)), new Promise((r) => rtcp.close(r))]);
    },
  };
}

module.exports = { startRtpRelay, parseRtp };
