// A WebSocket client on a bare TCP socket, for abuse tests: it can stop reading, leave a message
// unfinished, ignore pings, and pick its source address (127.0.0.2, ...). Frames from the server
// are decoded; frames to it are masked (RFC 6455 §5.3). No npm packages.
'use strict';
const net = require('node:net');
const crypto = require('node:crypto');

const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

function frame(opcode, payload, { fin = true } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const mask = crypto.randomBytes(4);
  let head;
  if (data.length < 126) {
    head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | data.length]);
  } else if (data.length < 65536) {
    head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, data.length >> 8, data.length & 0xff]);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(data.length), 2);
  }
  const body = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) body[i] = data[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

// Connects and upgrades. Resolves with a RawWs, or rejects with {refused: true} when the edge
// closes the connection before a 101 (admission refusal), or with the HTTP status line.
function connect(port, { host = '127.0.0.1', localAddress, timeoutMs = 3000, autoPong = true } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host, localAddress });
    let buf = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => finish(new Error('upgrade timed out')), timeoutMs);
    function finish(err, ws) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.removeListener('data', onData);
      if (err) {
        sock.destroy();
        reject(err);
      } else {
        resolve(ws);
      }
    }
    function onData(d) {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString();
      if (!head.startsWith('HTTP/1.1 101')) return finish(Object.assign(new Error(head.split('\r\n')[0]), { head }));
      const ws = new RawWs(sock, { autoPong });
      finish(null, ws);
      ws.feed(buf.subarray(end + 4));
    }
    sock.on('data', onData);
    sock.once('error', (e) => finish(Object.assign(e, { refused: true })));
    sock.once('close', () => finish(Object.assign(new Error('closed before the upgrade'), { refused: true })));
    sock.once('connect', () => {
      sock.write(
        `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          'Sec-WebSocket-Protocol: sip\r\n\r\n');
    });
  });
}

class RawWs {
  constructor(sock, { autoPong }) {
    this.sock = sock;
    this.autoPong = autoPong;
    this.buf = Buffer.alloc(0);
    this.messages = [];       // text payloads received
    this.pings = 0;
    this.closeFrame = null;   // {code, reason} of the server's close frame
    this.ended = false;       // the TCP connection is gone
    this.waiters = [];
    sock.on('data', (d) => this.feed(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }
  feed(d) {
    if (d.length) this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.buf.length < 2) break;
      const op = this.buf[0] & 0x0f;
      let len = this.buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) break;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) break;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) break;
      const payload = this.buf.subarray(off, off + len);
      this.buf = this.buf.subarray(off + len);
      if (op === OP.text || op === OP.binary) this.messages.push(payload.toString());
      if (op === OP.ping) {
        this.pings++;
        if (this.autoPong && !this.sock.destroyed) this.sock.write(frame(OP.pong, payload));
      }
      if (op === OP.close) {
        this.closeFrame = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() };
      }
    }
    this.wake();
  }
  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  // Resolves once pred() holds, or with false after timeoutMs.
  until(pred, timeoutMs) {
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(pred()), timeoutMs);
      const check = () => {
        if (pred()) {
          clearTimeout(t);
          resolve(true);
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }
  send(text, opts) { return this.sock.write(frame(OP.text, text, opts)); }
  sendFrame(op, payload, opts) { return this.sock.write(frame(op, payload, opts)); }
  pause() { this.sock.pause(); }
  resume() { this.sock.resume(); }
  destroy() { this.sock.destroy(); }
}

let seq = 0;
// A SIP request as JsSIP would send it over WebSocket (RFC 7118), with its own Call-ID.
function sipRequest(method, { user = 'alice', extraHeaders = '' } = {}) {
  const n = ++seq;
  const branch = `z9hG4bK${crypto.randomBytes(6).toString('hex')}`;
  return `${method} sip:edge.invalid SIP/2.0\r\n` +
    `Via: SIP/2.0/WSS abcdef.invalid;branch=${branch}\r\n` +
    'Max-Forwards: 70\r\n' +
    `To: <sip:${user}@edge.invalid>\r\n` +
    `From: <sip:${user}@edge.invalid>;tag=t${n}\r\n` +
    `Call-ID: abuse-${process.pid}-${n}\r\n` +
    `CSeq: 1 ${method}\r\n` +
    (method === 'REGISTER' ? `Contact: <sip:${user}@abcdef.invalid;transport=ws>;expires=600\r\nExpires: 600\r\n` : '') +
    extraHeaders +
    'Content-Length: 0\r\n\r\n';
}

// A Chromium-like audio offer (tests/sim/sip_sim.hpp kOffer).
const OFFER = [
  'v=0', 'o=- 4781285960896215454 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=audio 58206 UDP/TLS/RTP/SAVPF 111 9 0 8 126', 'c=IN IP4 127.0.0.1', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:609460023 1 udp 2122260223 127.0.0.1 58206 typ host generation 0',
  'a=ice-ufrag:aj7f', 'a=ice-pwd:+BmAjVNCJqk/MfBiI+1h9OHK',
  'a=fingerprint:sha-256 02:FA:96:EF:A1:32:50:67:82:18:D9:88:A0:22:E1:55:07:7B:18:ED:7D:31:3D:89:C8:E8:48:B7:31:9F:8A:38',
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2', 'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:126 telephone-event/8000', '',
].join('\r\n');

// An INVITE to 15551234567 from `user` with OFFER (no credentials: an edge with --no-auth), with
// its own Call-ID and From tag.
function sipInvite(user) {
  const n = ++seq;
  const callId = `invite-${process.pid}-${n}`;
  const fromTag = `t${n}`;
  const text = 'INVITE sip:15551234567@edge.invalid SIP/2.0\r\n' +
    `Via: SIP/2.0/WSS abcdef.invalid;branch=z9hG4bK${crypto.randomBytes(6).toString('hex')}\r\n` +
    'Max-Forwards: 70\r\n' +
    'To: <sip:15551234567@edge.invalid>\r\n' +
    `From: <sip:${user}@edge.invalid>;tag=${fromTag}\r\n` +
    `Call-ID: ${callId}\r\n` +
    'CSeq: 1 INVITE\r\n' +
    `Contact: <sip:${user}@abcdef.invalid;transport=ws;ob>\r\n` +
    'Content-Type: application/sdp\r\n' +
    `Content-Length: ${Buffer.byteLength(OFFER)}\r\n\r\n${OFFER}`;
  return { callId, fromTag, user, text };
}

module.exports = { OP, frame, connect, RawWs, sipRequest, sipInvite };
