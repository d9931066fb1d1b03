#!/usr/bin/env bash
# `webtrunk bench calls --trunk-transport` from the real binary, on loopback, bounded (~20 s):
#   - `--trunk-transport tcp`: 150 calls to an emulated trunk on TCP (the edge gets --trunk tcp:...):
#     every call completes, the edge opened one connection to the trunk and counted it, the trunk saw
#     no framing error or other anomaly;
#   - `--trunk-transport udp,tcp --rounds 1`: one run on each, alternating on fresh edges, and the
#     table lists both with every call completed and the ratio of udp to itself 1.00;
#   - `bench calls --help` describes --trunk-transport and --rounds;
#   - bad values exit 2 with a message that names them (an unknown transport, one listed twice,
#     --inbound over tcp, --rounds 0).
# Usage: trunk_transport_test.sh PATH/TO/webtrunk   (ctest passes it; see tests/CMakeLists.txt)
set -uo pipefail
bin=${1:?usage: trunk_transport_test.sh PATH/TO/webtrunk}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
check() {  # check WHAT CONDITION...: prints ok/FAIL
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

"$bin" bench calls --trunk-transport tcp --calls 150 --rate 100 --browsers 5 --duration 15 --progress 0 \
  >"$dir/tcp.out" 2>&1
rc=$?
cat "$dir/tcp.out"
check "bench calls --trunk-transport tcp exits 0 (got $rc)" test "$rc" -eq 0
check "the edge was given a TCP trunk" grep -q -- "^sip_load: edge: .* --trunk tcp:127.0.0.1:[0-9]* " "$dir/tcp.out"
check "the report says 150 calls over a tcp trunk, 150 ok, 0 failed" \
  bash -c "grep -q '^sip_load: setup: .* trunk_transport=tcp ' '$dir/tcp.out' && grep -q '^sip_load: calls=150 ok=150 failed=0 ' '$dir/tcp.out'"
check "no failure lines" bash -c "! grep -q '^sip_load: failure:' '$dir/tcp.out'"
check "no anomaly at the trunk (framing, resets)" bash -c "! grep -q '^sip_load: anomaly:' '$dir/tcp.out'"
check "the edge opened one connection to the trunk" grep -q "^sip_load: trunk: transport=tcp connections_from_edge=1$" "$dir/tcp.out"
check "the edge counts it as its TCP trunk connection" grep -q "^  webtrunk_trunk_tcp_connections 1$" "$dir/tcp.out"
check "the edge answered every call" grep -q "^  webtrunk_calls_answered_total 150$" "$dir/tcp.out"

"$bin" bench calls --trunk-transport udp,tcp --rounds 1 --calls 100 --rate 100 --browsers 5 --duration 15 \
  --progress 0 >"$dir/both.out" 2>&1
rc=$?
cat "$dir/both.out"
check "bench calls --trunk-transport udp,tcp exits 0 (got $rc)" test "$rc" -eq 0
check "run 1 on udp, run 2 on tcp" \
  bash -c "grep -q '^sip_load: compare run=1 trunk_transport=udp calls=100 ok=100 failed=0 ' '$dir/both.out' && grep -q '^sip_load: compare run=2 trunk_transport=tcp calls=100 ok=100 failed=0 ' '$dir/both.out'"
check "the table has udp with ratio 1.00" grep -Eq "^sip_load:   udp +100 +100 +[0-9.]+ +[0-9]+ +1\.00$" "$dir/both.out"
check "the table has tcp, every call completed" grep -Eq "^sip_load:   tcp +100 +100 +[0-9.]+ +[0-9]+ +[0-9]+\.[0-9]{2}$" "$dir/both.out"

"$bin" bench calls --help >"$dir/help.out" 2>&1
for flag in --trunk-transport --rounds; do
  check "bench calls --help describes $flag" grep -q -- "^  $flag " "$dir/help.out"
done

for bad in "--trunk-transport sctp|'sctp' is not udp, tcp or tls" "--trunk-transport tcp,tcp|tcp is listed twice" \
  "--trunk-transport tcp --inbound|--inbound calls from a UDP trunk only" "--rounds 0|--rounds: 1..20"; do
  flags=${bad%%|*}
  msg=${bad#*|}
  # shellcheck disable=SC2086
  "$bin" bench calls $flags >"$dir/bad.out" 2>&1
  rc=$?
  check "$flags exits 2 (got $rc)" test "$rc" -eq 2
  check "$flags: the message says why" grep -q -- "$msg" "$dir/bad.out"
done

echo "$fails failed"
exit $((fails > 0))
