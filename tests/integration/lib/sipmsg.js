// A small SIP message reader for assertions on captured traffic (sipp's message trace, the browser's
// WebSocket frames). Not a validating parser: it splits the start line, the headers (compact forms
// expanded, names case-insensitive, repeated headers kept in order) and the body.
'use strict';

const COMPACT = {
  i: 'call-id', v: 'via', f: 'from', t: 'to', m: 'contact', l: 'content-length', c: 'content-type',
  k: 'supported', s: 'subject', e: 'content-encoding', o: 'event', r: 'refer-to', u: 'allow-events',
  x: 'session-expires',
};

function parseSip(text) {
  const sep = text.search(/\r?\n\r?\n/);
  const head = sep < 0 ? text : text.slice(0, sep);
  const body = sep < 0 ? '' : text.slice(sep).replace(/^\r?\n\r?\n/, '');
  const lines = head.split(/\r?\n/);
  const startLine = lines.shift() || '';
  // Unfold continuation lines (RFC 3261 7.3.1).
  const unfolded = [];
  for (const l of lines) {
    if (/^[ \t]/.test(l) && unfolded.length) unfolded[unfolded.length - 1] += ' ' + l.trim();
    else if (l) unfolded.push(l);
  }
  const headers = unfolded.map((l) => {
    const i = l.indexOf(':');
    let name = l.slice(0, i).trim().toLowerCase();
    name = COMPACT[name] || name;
    return { name, value: l.slice(i + 1).trim() };
  });
  const msg = { raw: text, startLine, headers, body };
  let m;
  if ((m = startLine.match(/^SIP\/2\.0\s+(\d{3})\s*(.*)$/))) {
    msg.status = Number(m[1]);
    msg.reason = m[2];
  } else if ((m = startLine.match(/^([A-Za-z]+)\s+(\S+)\s+SIP\/2\.0$/))) {
    msg.method = m[1].toUpperCase();
    msg.ruri = m[2];
  }
  // Header values, one entry per header line (comma-joined values are not split except for Via).
  msg.all = (name) => headers.filter((h) => h.name === (COMPACT[name] || name.toLowerCase())).map((h) => h.value);
  msg.get = (name) => msg.all(name)[0];
  msg.vias = () => msg.all('via').flatMap((v) => v.split(/\s*,\s*(?=SIP\/)/i));
  msg.cseq = () => {
    const c = (msg.get('cseq') || '').split(/\s+/);
    return { seq: Number(c[0]), method: (c[1] || '').toUpperCase() };
  };
  msg.tag = (name) => ((msg.get(name) || '').match(/;\s*tag=([^;>\s]+)/i) || [])[1];
  msg.summary = () => (msg.method ? `${msg.method} (CSeq ${msg.get('cseq')})` : `${msg.status} ${msg.reason} (CSeq ${msg.get('cseq')})`);
  return msg;
}

// Branch parameter of a Via value.
const viaBranch = (via) => ((via || '').match(/;\s*branch=([^;,\s]+)/i) || [])[1];
// Host of a Via value ("SIP/2.0/WS abc.invalid;branch=..." -> "abc.invalid").
const viaHost = (via) => ((via || '').match(/^SIP\/2\.0\/\S+\s+(\[[^\]]+\]|[^:;\s]+)/i) || [])[1];

module.exports = { parseSip, viaBranch, viaHost };
