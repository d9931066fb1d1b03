// What both caller pages (JsSIP: index.html, SIP.js: sipjs.html) share: the traced WebSocket, the
// event list the test waits on, getStats in short, and dropping the WebSocket. Loaded before the SIP
// library: both look up the global WebSocket when they connect, so they get the traced one.
'use strict';

// Every WebSocket the page opens is traced (each SIP message in and out, with a timestamp) and kept,
// so the test can read what the browser really sent and received, and drop a connection on purpose.
window.__sip = [];
window.__sockets = [];
(() => {
  const Native = window.WebSocket;
  const text = (d) => (typeof d === 'string' ? d : new TextDecoder().decode(d));
  class TracedWebSocket extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      window.__sockets.push(this);
      this.addEventListener('message', (e) => window.__sip.push({ dir: 'in', t: Date.now(), data: text(e.data) }));
      this.addEventListener('close', (e) => window.__sip.push({ dir: 'close', t: Date.now(), code: e.code, reason: e.reason }));
    }
    send(d) {
      window.__sip.push({ dir: 'out', t: Date.now(), data: text(d) });
      return super.send(d);
    }
  }
  window.WebSocket = TracedWebSocket;
})();

window.Harness = (() => {
  const events = [];
  const waiters = new Set();
  const logEl = () => document.getElementById('log');
  const log = (...a) => { const el = logEl(); if (el) el.textContent += a.join(' ') + '\n'; };
  const push = (ev) => {
    ev.t = Date.now();
    events.push(ev);
    log(JSON.stringify(ev));
    for (const w of waiters) w();
  };

  // Resolves with the first event of one of `types` (already seen or still to come), or
  // { type: 'timeout' } after timeoutMs.
  const waitFor = (types, timeoutMs = 5000) => {
    types = [].concat(types);
    return new Promise((resolve) => {
      let timer;
      const check = () => {
        const ev = events.find((e) => types.includes(e.type));
        if (!ev) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(ev);
      };
      timer = setTimeout(() => { waiters.delete(check); resolve({ type: 'timeout', waitedFor: types }); }, timeoutMs);
      waiters.add(check);
      check();
    });
  };

  // Reports a peer connection's state changes as events.
  const watch = (pc) => {
    pc.addEventListener('iceconnectionstatechange', () => push({ type: 'ice', state: pc.iceConnectionState }));
    pc.addEventListener('connectionstatechange', () => push({ type: 'pc', state: pc.connectionState }));
  };

  // What the user would check in chrome://webrtc-internals: audio packets out and in, and the
  // transport (DTLS state, SRTP cipher).
  const stats = async (pc) => {
    if (!pc) return null;
    const out = { outbound: null, inbound: null, transport: null, pair: null, t: Date.now() };
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.outbound = { packetsSent: s.packetsSent, bytesSent: s.bytesSent };
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.inbound = { packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, bytesReceived: s.bytesReceived };
      }
      if (s.type === 'transport') {
        out.transport = { dtlsState: s.dtlsState, srtpCipher: s.srtpCipher, tlsVersion: s.tlsVersion,
          dtlsRole: s.dtlsRole, iceState: s.iceState, selectedCandidatePairId: s.selectedCandidatePairId };
      }
    });
    if (out.transport && out.transport.selectedCandidatePairId) {
      const p = report.get(out.transport.selectedCandidatePairId);
      const remote = p && report.get(p.remoteCandidateId);
      out.pair = p ? { state: p.state, remote: remote ? `${remote.address}:${remote.port}` : null } : null;
    }
    return out;
  };

  // Closes the newest open WebSocket from under the SIP library (a close frame; the library sees a
  // transport error). lib/tcp_relay.js cuts the TCP connection without one.
  const dropWebSocket = () => {
    const ws = window.__sockets.filter((s) => s.readyState === WebSocket.OPEN).pop();
    if (!ws) return false;
    ws.close(4000, 'test drops the connection');
    return true;
  };

  const eventList = () => events.slice();
  const sip = () => window.__sip.slice();
  // The part of window.T that is the same on both pages; pc() is the call's current peer connection.
  const callerApi = (pc) => ({ waitFor, stats: () => stats(pc()), dropWebSocket, events: eventList, sip });

  return { log, push, watch, callerApi, events: eventList };
})();
