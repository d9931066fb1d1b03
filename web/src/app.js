// The click-to-call demo page: the whole chain of trust from a browser (DESIGN.md).
//   1. POST /token on this page's own site (the customer servlet)    -> customer token
//   2. POST <auth>/v1/token?account=ID (the hosted auth service, CORS) -> SIP credentials + edge URI
//   3. JsSIP over WebSocket to the edge, INVITE with digest over those credentials
// Every failure is told in words a person understands (messages below), and the state is in
// #state (data-state: idle, token, auth, connecting, ringing, in-call, ended, failed).
//
// Configuration: config.json next to this page ({"auth_url", "number"}; `webtrunk demo` writes it),
// overridden by the query string (?auth=URL&number=N).
//
// Test hooks (the end-to-end tests use them to drive error paths; a real page has none): before
// this script runs, window.webtrunkDemoHooks may hold async functions afterToken(token) and
// afterAuth(credentials) that return the object to use instead.
import JsSIP from 'jssip/lib/JsSIP';

const $ = (id) => document.getElementById(id);
const hooks = window.webtrunkDemoHooks || {};

// What a person reads. Keys are the auth service's error codes (auth/auth_service.cpp) and the
// edge's 403 reason phrases (auth/README.md).
const AUTH_MESSAGES = {
  wrong_secret: 'This web site is not set up correctly: its token was signed with the wrong secret (wrong customer secret).',
  token_expired: 'The token expired before it could be used (customer token expired). Check the clock of the web site\'s server, then press Call again.',
  token_lifetime_too_long: 'The web site\'s token lives too long for the call service (token lifetime too long).',
  token_replayed: 'This token was already used (customer token already used). Press Call again to get a fresh one.',
  origin_not_allowed: 'Your site is not allowed to call: the call service does not accept calls from this page\'s address.',
  unknown_account: 'The call service does not know this web site\'s account.',
  malformed_token: 'The web site handed out a token the call service cannot read (malformed customer token).',
  rate_limited: 'Too many calls right now. Wait a moment and try again.',
  busy: 'The call service is busy. Try again in a moment.',
};
const EDGE_403 = {
  'Number not allowed': 'This number is not allowed: this site may not call it.',
  'Token expired': 'Your call credentials expired. Press Call again.',
  'Wrong password': 'The call server refused this page\'s credentials (they were altered or are not valid).',
  'Invalid token': 'The call server refused this page\'s credentials (they were altered or are not valid).',
  'Bad token claims': 'The call server refused this page\'s credentials (they were altered or are not valid).',
  'Unknown token key': 'The call server does not know the key these credentials were made with.',
  'Malformed token': 'The call server refused this page\'s credentials (they were altered or are not valid).',
};

const state = {
  phase: 'idle',
  events: [],
  maxLevel: 0,
  ua: null,
  session: null,
  audioCtx: null,
  meterStop: null,
};
// For tests and the curious: window.webtrunkDemo.state(), .events(), .stats(), .maxLevel().
window.webtrunkDemo = {
  state: () => state.phase,
  message: () => $('message').textContent,
  events: () => state.events.slice(),
  maxLevel: () => state.maxLevel,
  stats: () => rtpStats(),
  audio: () => (state.audioCtx ? state.audioCtx.state : 'none'),
};

function log(line) {
  const t = new Date().toISOString().slice(11, 23);
  $('log').textContent += `${t} ${line}\n`;
}

function setPhase(phase, text) {
  state.phase = phase;
  state.events.push({ t: Date.now(), phase, text });
  const el = $('state');
  el.dataset.state = phase;
  el.textContent = text;
  const busy = !['idle', 'ended', 'failed'].includes(phase);
  $('call').disabled = busy;
  $('hangup').disabled = !busy;
  log(`state: ${phase} (${text})`);
}

function say(text, isError = false) {
  const el = $('message');
  el.textContent = text;
  el.className = isError ? 'error' : '';
  if (text) log(`${isError ? 'error' : 'info'}: ${text}`);
}

function fail(text) {
  say(text, true);
  setPhase('failed', 'failed');
  cleanup();
}

class Stop extends Error {}

// fetch with a time limit; a network failure becomes Stop(text).
async function fetchOr(url, opts, unreachableText, timeoutMs = 8000) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    return await fetch(url, { ...opts, signal: ctl.signal });
  } catch (e) {
    throw new Stop(unreachableText);
  } finally {
    clearTimeout(timer);
  }
}

async function readJson(resp) {
  try { return await resp.json(); } catch (_) { return {}; }
}

async function loadConfig() {
  let cfg = { auth_url: '', number: '' };
  try {
    const r = await fetch('config.json', { cache: 'no-store' });
    if (r.ok) cfg = { ...cfg, ...(await r.json()) };
  } catch (_) { /* no config.json: query string only */ }
  const q = new URLSearchParams(location.search);
  if (q.get('auth')) cfg.auth_url = q.get('auth');
  if (q.get('number')) cfg.number = q.get('number');
  return cfg;
}

// Step 1: the customer token from this site's servlet.
async function customerToken() {
  const r = await fetchOr('token', { method: 'POST', cache: 'no-store' },
    'The web site\'s token service (servlet) is not reachable. Is it running?');
  const body = await readJson(r);
  if (r.status === 403 && body.error === 'origin_not_allowed') {
    throw new Stop('This page may not get tokens from its token service (servlet): its address is not on the servlet\'s list.');
  }
  if (!r.ok || !body.key) {
    throw new Stop(`The web site's token service (servlet) failed: ${r.status} ${body.reason || r.statusText}.`);
  }
  return body;
}

// Step 2: trade it at the auth service. A CORS refusal is indistinguishable from a network error
// to a page, so a second, opaque (no-cors) request tells "refused this page" from "not there".
async function edgeCredentials(authUrl, tok) {
  const base = authUrl.replace(/\/+$/, '');
  const url = `${base}/v1/token?account=${encodeURIComponent(tok.account)}`;
  const body = JSON.stringify({ account: tok.account, username: tok.username, expires: tok.expires, key: tok.key });
  let r;
  try {
    r = await fetchOr(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body }, 'unreachable');
  } catch (e) {
    let up = false;
    try {
      await fetchOr(`${base}/healthz`, { mode: 'no-cors', cache: 'no-store' }, 'down', 4000);
      up = true;
    } catch (_) { /* down */ }
    throw new Stop(up ? AUTH_MESSAGES.origin_not_allowed
      : `The call service's auth service (${base}) is not reachable. Is it running?`);
  }
  const answer = await readJson(r);
  if (!r.ok) {
    let text = AUTH_MESSAGES[answer.error] || `The call service refused: ${r.status} ${answer.reason || r.statusText}.`;
    if (answer.error === 'rate_limited' && r.headers.get('Retry-After')) {
      text = `Too many calls right now. Try again in ${r.headers.get('Retry-After')} seconds.`;
    }
    throw new Stop(text);
  }
  if (!answer.username || !answer.password || !Array.isArray(answer.uris) || !answer.uris.length) {
    throw new Stop('The call service answered without credentials.');
  }
  return answer;
}

function iceServers(list) {
  return (list || []).map((s) => (typeof s === 'string' ? { urls: s } : s));
}

// Step 3: JsSIP. Resolves once the WebSocket is up; a failure to connect is a Stop.
function connect(creds) {
  const wsUri = creds.uris[0];
  const host = new URL(wsUri).hostname;
  JsSIP.debug.disable('JsSIP:*');
  const ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(wsUri)],
    uri: `sip:web@${host.includes(':') ? `[${host}]` : host}`,
    authorization_user: creds.username,
    password: creds.password,
    register: false,
    connection_recovery_min_interval: 2,
    connection_recovery_max_interval: 30,
    user_agent: `webtrunk demo page (JsSIP ${JsSIP.version})`,
  });
  state.ua = ua;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Stop(`The call server (edge) at ${wsUri} did not answer. Is it running?`)), 8000);
    ua.once('connected', () => { clearTimeout(timer); resolve({ ua, host }); });
    ua.once('disconnected', () => {
      clearTimeout(timer);
      reject(new Stop(`The call server (edge) at ${wsUri} is unreachable. Is it running?`));
    });
    ua.start();
  });
}

function failureText(e) {
  const C = JsSIP.C.causes;
  const status = e.message && e.message.status_code;
  const reason = (e.message && e.message.reason_phrase) || '';
  if (status === 403) return EDGE_403[reason] || `The call was refused: 403 ${reason}.`;
  switch (e.cause) {
    case C.BUSY: return 'The number is busy.';
    case C.CANCELED: return 'You cancelled the call.';
    case C.USER_DENIED_MEDIA_ACCESS: return 'The browser did not allow the microphone: allow it and try again.';
    case C.CONNECTION_ERROR: return 'The connection to the call server (edge) was lost.';
    case C.REQUEST_TIMEOUT: return 'The call server (edge) did not answer in time.';
    case C.RTP_TIMEOUT: return 'The audio stopped (media timeout).';
    case C.AUTHENTICATION_ERROR: return 'The call server did not accept this page\'s credentials.';
    case C.BAD_MEDIA_DESCRIPTION: return 'The call\'s audio could not be set up (the answer could not be used).';
    default:
      if (status) return `The call was rejected: ${status} ${reason}.`;
      return `The call failed: ${e.cause}.`;
  }
}

function place(ua, host, number) {
  const target = `sip:${number}@${host.includes(':') ? `[${host}]` : host}`;
  setPhase('connecting', 'calling…');
  const session = ua.call(target, {
    mediaConstraints: { audio: true, video: false },
    pcConfig: { iceServers: state.iceServers || [] },
    eventHandlers: {
      // Emitted inside ua.call(), before it returns: a handler added afterwards would miss it.
      peerconnection: (ev) => ev.peerconnection.addEventListener('track', (t) => {
        if (t.track.kind === 'audio') playRemote(t.streams[0] || new MediaStream([t.track]));
      }),
      progress: () => setPhase('ringing', 'ringing…'),
      confirmed: () => { setPhase('in-call', 'in call'); say('You are in the call. Speak: you should hear yourself.'); },
      failed: (e) => { log(`failed: ${e.cause} ${e.message ? `${e.message.status_code} ${e.message.reason_phrase}` : ''}`); fail(failureText(e)); },
      ended: (e) => {
        const normal = e.cause === JsSIP.C.causes.BYE;
        const who = e.originator === 'local' ? 'You hung up.' : 'The other side hung up.';
        say(`Call ended. ${normal ? who : failureText(e)}`, !normal);
        setPhase('ended', 'call ended');
        cleanup();
      },
    },
  });
  state.session = session;
}

// What comes back: played (the <audio> element also makes Chromium feed the stream to WebAudio) and
// measured.
function playRemote(stream) {
  const audio = $('remote');
  if (audio.srcObject === stream) return;
  audio.srcObject = stream;
  audio.play().catch((e) => log(`audio: ${e.message}`));
  startMeter(stream);
}

// The live level of what comes back (WebAudio AnalyserNode), shown in <meter id="level">.
function startMeter(stream) {
  if (state.meterStop) state.meterStop();
  const ctx = state.audioCtx;
  if (!ctx) return;
  const src = ctx.createMediaStreamSource(stream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  src.connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  let running = true;
  const tick = () => {
    if (!running) return;
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    const rms = Math.sqrt(sum / buf.length);
    const level = Math.min(1, rms * 4);  // speech RMS ~0.05-0.2 -> a meter that moves
    $('level').value = level;
    state.maxLevel = Math.max(state.maxLevel, level);
    setTimeout(tick, 50);  // not requestAnimationFrame: it stops in background tabs
  };
  tick();
  state.meterStop = () => { running = false; src.disconnect(); $('level').value = 0; };
}

async function rtpStats() {
  const pc = state.session && state.session.connection;
  const out = { inboundPackets: 0, outboundPackets: 0, srtpCipher: '' };
  if (!pc) return out;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out.inboundPackets += s.packetsReceived || 0;
      out.inboundLevel = s.audioLevel || 0;
      out.codec = s.codecId;
    }
    if (s.type === 'outbound-rtp' && s.kind === 'audio') out.outboundPackets += s.packetsSent || 0;
    if (s.type === 'transport' && s.srtpCipher) out.srtpCipher = s.srtpCipher;
  });
  return out;
}

function cleanup() {
  if (state.meterStop) { state.meterStop(); state.meterStop = null; }
  const ua = state.ua;
  state.ua = null;
  if (ua) setTimeout(() => { try { ua.stop(); } catch (_) { /* already stopped */ } }, 200);
}

async function call(number, cfg) {
  say('');
  state.maxLevel = 0;
  // Created in the click handler: browsers only let audio start from a user gesture.
  if (!state.audioCtx) state.audioCtx = new AudioContext();
  if (state.audioCtx.state === 'suspended') state.audioCtx.resume().catch(() => {});
  try {
    if (!cfg.auth_url) throw new Stop('This page does not know its call service: config.json has no auth_url.');
    setPhase('token', 'getting a token…');
    let tok = await customerToken();
    if (hooks.afterToken) tok = await hooks.afterToken(tok);
    setPhase('auth', 'signing in…');
    let creds = await edgeCredentials(cfg.auth_url, tok);
    if (hooks.afterAuth) creds = await hooks.afterAuth(creds);
    state.iceServers = iceServers(creds.ice_servers);
    setPhase('connecting', 'connecting…');
    const { ua, host } = await connect(creds);
    place(ua, host, number);
  } catch (e) {
    if (e instanceof Stop) fail(e.message);
    else { console.error(e); fail(`Something went wrong in this page: ${e.message}`); }
  }
}

async function main() {
  const cfg = await loadConfig();
  if (cfg.number && !$('number').value) $('number').value = cfg.number;
  $('dial').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const number = $('number').value.trim();
    if (!/^\+?[0-9*#]{1,32}$/.test(number)) { say('Enter a phone number: digits, with an optional + in front.', true); return; }
    call(number, cfg);
  });
  $('hangup').addEventListener('click', () => {
    if (state.session && !state.session.isEnded()) state.session.terminate();
    else { cleanup(); setPhase('ended', 'call ended'); }
  });
  setPhase('idle', 'ready');
  log(`ready: JsSIP ${JsSIP.version}; auth service ${cfg.auth_url || '(none)'}`);
}

main();
