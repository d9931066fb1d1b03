#!/usr/bin/env python3
"""Extracts SIP messages from the WebSocket transcripts in tests/data/transcripts/
(JsSIP 3.13.8 and SIP.js 0.21.2 driven by headless Chromium, see tests/data/README.md) into one file per
message, byte for byte as carried in the WebSocket text frame (CRLF line ends).

The captures hold no UPDATE (the sipp trunk never let the session-timer refresh fire), so
jssip_update_session_expires.sip is built here from the captured in-dialog INFO of the same call,
with the Session-Expires refresh JsSIP sends (research/features.md §2.3, §2.5).
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAP = os.path.join(HERE, "../../transcripts")

# (transcript, byte offset of the "===" line, output name)
PICK = [
    ("run-a-jssip-basic.txt", 1412, "jssip_register_auth.sip"),
    ("run-a-jssip-basic.txt", 2217, "jssip_invite_sdp.sip"),
    ("run-a-jssip-basic.txt", 4341, "jssip_ack.sip"),
    ("run-a-jssip-basic.txt", 4922, "jssip_bye.sip"),
    ("run-a-jssip-basic.txt", 7226, "kamailio_401_register.sip"),
    ("run-a-jssip-basic.txt", 7697, "kamailio_200_register.sip"),
    ("run-a-jssip-basic.txt", 9236, "trunk_200_invite_sdp.sip"),
    ("run-b-jssip-sipjs-full.txt", 2188, "jssip_invite_session_expires.sip"),
    ("run-b-jssip-sipjs-full.txt", 4920, "jssip_info_dtmf.sip"),
    ("run-b-jssip-sipjs-full.txt", 5564, "jssip_reinvite_hold.sip"),
    ("run-b-jssip-sipjs-full.txt", 26125, "sipjs_invite_sdp.sip"),
    ("run-b-jssip-sipjs-full.txt", 28685, "sipjs_info_dtmf.sip"),
    ("run-b-jssip-sipjs-full.txt", 25438, "sipjs_register_auth.sip"),
    ("run-b-jssip-sipjs-full.txt", 45368, "sipjs_200_bye.sip"),
]


def frame(data, offset):
    m = re.compile(rb"=== (\d+)->(\d+) opcode=1 len=(\d+) ===\n").match(data, offset)
    if not m:
        sys.exit(f"no frame at {offset}")
    n = int(m.group(3))
    return data[m.end():m.end() + n]


def main():
    cache = {}
    for fn, off, out in PICK:
        data = cache.setdefault(fn, open(os.path.join(CAP, fn), "rb").read())
        msg = frame(data, off)
        with open(os.path.join(HERE, out), "wb") as f:
            f.write(msg)
        print(out, len(msg))
    info = frame(cache["run-b-jssip-sipjs-full.txt"], 4920)
    head = info.split(b"\r\n\r\n")[0]
    lines = [l for l in head.split(b"\r\n") if not l.startswith((b"Content-Type", b"Content-Length", b"Supported"))]
    lines[0] = lines[0].replace(b"INFO ", b"UPDATE ", 1)
    lines = [l.replace(b"4690 INFO", b"4695 UPDATE").replace(b"branch=z9hG4bK", b"branch=z9hG4bK7") for l in lines]
    lines += [b"Session-Expires: 90;refresher=uac", b"Supported: timer,gruu,ice,replaces,outbound",
              b"Content-Length: 0"]
    upd = b"\r\n".join(lines) + b"\r\n\r\n"
    with open(os.path.join(HERE, "jssip_update_session_expires.sip"), "wb") as f:
        f.write(upd)
    print("jssip_update_session_expires.sip", len(upd))


if __name__ == "__main__":
    main()
