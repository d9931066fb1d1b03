#!/usr/bin/env bash
# `webtrunk bench` from the real binary, on loopback, bounded (~25 s):
#   - `webtrunk bench calls` with 200 calls at 100 calls/s, the binary copied alone into an empty
#     directory, so the edge it starts is itself (`edge` subcommand) and nothing else is needed:
#     every call completes, none fails;
#   - `webtrunk bench calls --tls`: the same over WSS (the edge gets --wss and a certificate made
#     at start; every browser does a TLS handshake, all but the first resuming): every call completes;
#   - `webtrunk bench calls --inbound`: 100 calls from the trunk to 5 browsers registered as distinct
#     users (each through the edge's 401 with an edge token): every call completes, each browser
#     registered once after one challenge, and the edge's trunk port took them all;
#   - `webtrunk bench abuse`, short (2 calls, floods of 1 s): every flood runs, the calls in progress
#     lose nothing over 0.1 %, the edge stays up;
#   - `webtrunk bench nonsense` and a malformed flag exit 2 with a message that names them;
#   - `webtrunk bench --help` describes every mode.
# Usage: command_test.sh PATH/TO/webtrunk   (ctest passes it; see tests/CMakeLists.txt)
set -uo pipefail
bin=${1:?usage: command_test.sh PATH/TO/webtrunk}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$bin" "$dir/webtrunk"
fails=0
check() {  # check WHAT CONDITION...: prints ok/FAIL
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

"$dir/webtrunk" bench calls --calls 200 --rate 100 --browsers 10 --duration 15 --progress 0 \
  >"$dir/calls.out" 2>&1
rc=$?
cat "$dir/calls.out"
check "bench calls exits 0 (got $rc)" test "$rc" -eq 0
check "the report says 200 calls, 200 ok, 0 failed" grep -q "^sip_load: calls=200 ok=200 failed=0 " "$dir/calls.out"
check "no failure lines" bash -c "! grep -q '^sip_load: failure:' '$dir/calls.out'"
check "the edge it started is this executable" grep -q "^sip_load: edge: $dir/webtrunk edge --ws 127.0.0.1:" "$dir/calls.out"

"$dir/webtrunk" bench calls --tls --calls 100 --rate 100 --browsers 5 --duration 15 --progress 0 \
  >"$dir/tls.out" 2>&1
rc=$?
cat "$dir/tls.out"
check "bench calls --tls exits 0 (got $rc)" test "$rc" -eq 0
check "the edge listens on wss with the bench's certificate" \
  grep -q -- "^sip_load: edge: $dir/webtrunk edge --wss 127.0.0.1:.* --tls-cert " "$dir/tls.out"
check "5 TLS handshakes, 4 of them resumed" grep -q "^sip_load: connections: transport=wss browsers=5 .* tls_handshakes=5 resumed=4$" "$dir/tls.out"
check "the edge counted them" grep -q "^  webtrunk_tls_resumed_total 4$" "$dir/tls.out"
check "the report says 100 calls over wss, 100 ok, 0 failed" \
  bash -c "grep -q '^sip_load: setup: transport=wss ' '$dir/tls.out' && grep -q '^sip_load: calls=100 ok=100 failed=0 ' '$dir/tls.out'"

"$dir/webtrunk" bench calls --inbound --calls 100 --rate 50 --browsers 5 --duration 15 --progress 0 \
  >"$dir/inbound.out" 2>&1
rc=$?
cat "$dir/inbound.out"
check "bench calls --inbound exits 0 (got $rc)" test "$rc" -eq 0
check "the report says 100 inbound calls, 100 ok, 0 failed" \
  bash -c "grep -q '^sip_load: setup: .* direction=inbound ' '$dir/inbound.out' && grep -q '^sip_load: calls=100 ok=100 failed=0 ' '$dir/inbound.out'"
check "5 browsers registered after one 401 each" grep -q "^sip_load: register_401_challenges=5 " "$dir/inbound.out"
check "the edge started and answered 100 calls from the trunk" \
  bash -c "grep -q '^  webtrunk_inbound_calls_started_total 100$' '$dir/inbound.out' && grep -q '^  webtrunk_inbound_calls_answered_total 100$' '$dir/inbound.out'"
check "the report gives the set-up time at the trunk" grep -q "^sip_load: setup_time_us (INVITE written by the trunk -> 200 at the trunk): p50=[0-9]" "$dir/inbound.out"

"$dir/webtrunk" bench calls --tls --compare-tls 1 >"$dir/both.out" 2>&1
rc=$?
check "--tls with --compare-tls exits 2 (got $rc)" test "$rc" -eq 2
check "the message says why" grep -q -- "--compare-tls runs both transports" "$dir/both.out"

"$dir/webtrunk" bench abuse --calls 2 --seconds 1 --max-requests 20000 --fragments 20 >"$dir/abuse.out" 2>&1
rc=$?
cat "$dir/abuse.out"
check "bench abuse exits 0 (got $rc)" test "$rc" -eq 0
for flood in sip-unauth new-conns trunk-garbage rtp-garbage slow-readers fragments; do
  check "bench abuse reports $flood" grep -q "^$flood " "$dir/abuse.out"
done
check "the edge stayed up and the calls lost nothing" grep -q "^abuse: edge alive; passed" "$dir/abuse.out"
check "the edge it started is this executable" grep -q "^abuse: edge: $dir/webtrunk edge --ws 127.0.0.1:" "$dir/abuse.out"

"$dir/webtrunk" bench nonsense >"$dir/mode.out" 2>&1
rc=$?
cat "$dir/mode.out"
check "bench nonsense exits 2 (got $rc)" test "$rc" -eq 2
check "the message names the mode" grep -q "unknown mode 'nonsense'" "$dir/mode.out"

"$dir/webtrunk" bench calls --calls many >"$dir/flag.out" 2>&1
rc=$?
cat "$dir/flag.out"
check "bench calls --calls many exits 2 (got $rc)" test "$rc" -eq 2
check "the message names the flag" grep -q -- "--calls: 'many' is not a number" "$dir/flag.out"

"$dir/webtrunk" bench --help >"$dir/help.out" 2>&1
rc=$?
check "bench --help exits 0 (got $rc)" test "$rc" -eq 0
for mode in calls media auth abuse; do
  check "bench --help describes $mode" grep -q "^webtrunk bench $mode " "$dir/help.out"
done
for flag in --calls --rate --edge-bin --tls --compare-tls --inbound --hold --seconds --engine --connections --auth-bin --max-requests; do
  check "bench --help describes $flag" grep -q -- "^  $flag " "$dir/help.out"
done

echo "$fails failed"
exit $((fails > 0))
