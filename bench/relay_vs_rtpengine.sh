#!/usr/bin/env bash
# webtrunk's media relay against rtpengine, side by side in one run: the same emulated browsers
# (ICE, DTLS 1.2, SRTP, 50 packets/s each way) and echoing trunk of bench_media_relay drive either
# relay, pinned to CPU 0 with the load on CPU 1; each round runs both, in alternating order.
#
#   bench/relay_vs_rtpengine.sh [BUILD_DIR]        (default build; needs rtpengine: scripts/setup.sh --bench)
#
# Calls: every count in CALLS, then on in steps of STEP while neither relay loses >= 0.1 %, up to
# MAX_CALLS. Each run is bounded (set-up timeout + media + 60 s). Every run is its own session
# with its autogroup at nice -15 (rtpengine, its child, inherits it): on a machine shared with other
# work, both relays then get their CPU, not what the other load leaves over. With PROFILE=1 it then records
# webtrunk's relay with `perf record -g` for PROFILE_SECONDS of media at PROFILE_CALLS calls.
# Env: CALLS ("500 1000 2000 3000"), STEP (1000), MAX_CALLS (4000), MEDIA_SECONDS (8), ROUNDS (1),
#      SETUP_TIMEOUT (60), OUT (a new directory under /tmp: every run's full output, the perf data),
#      PROFILE (0), PROFILE_CALLS (2000), PROFILE_SECONDS (5),
#      MODES ("shared", the edge's default): webtrunk's --trunk-rtp-mode values to run, each a relay of
#      its own in the round ("per-call shared": both; shared gets an echoing-trunk socket per call).
# Prints one row per run and the rtpengine/webtrunk ratio of CPU per relayed packet per round (for
# each webtrunk mode, on the round's last row). add_p50/add_p99: webtrunk's added delay inside the
# relay (kernel arrival stamp -> send, us; '-' for rtpengine, which the tool cannot see inside).
set -euo pipefail
build=${1:-build}
tool=$build/bench/bench_media_relay
calls_list=${CALLS:-500 1000 2000 3000}
step=${STEP:-1000}
max_calls=${MAX_CALLS:-4000}
media_s=${MEDIA_SECONDS:-8}
rounds=${ROUNDS:-1}
setup_s=${SETUP_TIMEOUT:-60}
modes=${MODES:-shared}
out=${OUT:-$(mktemp -d /tmp/relay_vs_rtpengine.XXXXXX)}
mkdir -p "$out"

[[ -x $tool ]] || { echo "relay_vs_rtpengine: no $tool (build first)" >&2; exit 1; }
command -v rtpengine >/dev/null || { echo "relay_vs_rtpengine: rtpengine not installed (scripts/setup.sh --bench)" >&2; exit 1; }

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(rtpengine --version 2>&1 | head -n1)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg); logs in $out"
printf '%-6s %-5s %-18s %-10s %-9s %-11s %-9s %-9s %-7s %-7s %-8s %s\n' calls round relay loss_% us/packet cpu_share_% rtt_p50 rtt_p99 add_p50 add_p99 wait_s ratio

# prio CMD...: CMD in a new session whose autogroup runs at nice -15 (needs CAP_SYS_NICE; else as is).
prio() { setsid bash -c 'echo -15 >/proc/self/autogroup 2>/dev/null; exec "$@"' prio "$@"; }

# run RELAY CALLS ROUND -> prints the summary line's fields; the whole output in $out.
run() {  # relay: rtpengine, or webtrunk:MODE
  local relay=${1%%:*} mode=${1#*:} calls=$2 round=$3 log="$out/${1/:/-}-$2-$3.txt" extra=()
  if [[ $relay == webtrunk ]]; then
    extra=(--trunk-rtp-mode "$mode")
    [[ $mode == shared ]] && extra+=(--trunk-sockets "$calls")
  fi
  prio timeout $((setup_s + media_s + 60)) "$tool" --relay "$relay" --calls "$calls" --seconds "$media_s" \
    --setup-timeout "$setup_s" --edge-cpu 0 --peer-cpu 1 --rtpengine-log "$out/rtpengine-$calls-$round.log" \
    "${extra[@]}" >"$log" 2>&1 || true
  grep '^summary ' "$log" || echo "summary relay=$relay calls=$calls connected=0 loss_pct=100 cpu_share_pct=0 us_per_packet=0 rtt_p50_us=0 rtt_p99_us=0 relay_wait_s=0"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
lost() { awk -v l="$1" 'BEGIN { exit !(l >= 0.1) }'; }

calls_seq() {  # the fixed counts, then the steps beyond
  for c in $calls_list; do echo "$c"; done
  local last=${calls_list##* }
  for ((c = last + step; c <= max_calls; c += step)); do echo "$c"; done
}

# relay_of PID: the tool's first process (the relay; its forked child runs the peers) among PID's
# descendants.
relay_of() {
  local queue=("$1") p
  while ((${#queue[@]})); do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    if [[ $(cat "/proc/$p/comm" 2>/dev/null) == bench_media_rel ]]; then
      echo "$p"
      return
    fi
    mapfile -t -O "${#queue[@]}" queue < <(pgrep -P "$p")
  done
}

n_fixed=$(wc -w <<<"$calls_list")
i=0
for calls in $(calls_seq); do
  i=$((i + 1))
  any_lost=0
  for ((r = 1; r <= rounds; r++)); do
    ours=""
    for m in $modes; do ours+="webtrunk:$m "; done
    if ((r % 2 == 1)); then order="${ours}rtpengine"; else order="rtpengine ${ours% }"; fi
    declare -A us=()
    for relay in $order; do
      s=$(run "$relay" "$calls" "$r")
      us[$relay]=$(field us_per_packet "$s")
      loss=$(field loss_pct "$s")
      lost "$loss" && any_lost=1
      ratio=""
      if [[ $relay == "${order##* }" ]]; then
        for m in $modes; do
          ratio+=$(awk -v a="${us[rtpengine]}" -v b="${us[webtrunk:$m]}" -v m="$m" \
            'BEGIN { if (b > 0) printf "%s %.2f ", m, a / b; else printf "%s - ", m }')
        done
      fi
      add50=$(field delay_p50_us "$s")
      add99=$(field delay_p99_us "$s")
      [[ $relay == rtpengine || -z $add99 || $add99 == 0 ]] && add50=- add99=-
      printf '%-6s %-5s %-18s %-10s %-9s %-11s %-9s %-9s %-7s %-7s %-8s %s\n' "$calls" "$r" "$relay" "$loss" \
        "${us[$relay]}" "$(field cpu_share_pct "$s")" "$(field rtt_p50_us "$s")" "$(field rtt_p99_us "$s")" "$add50" \
        "$add99" "$(field relay_wait_s "$s")" "$ratio"
    done
  done
  if ((i >= n_fixed && any_lost)); then break; fi
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ ${PROFILE:-0} == 1 ]]; then
  command -v perf >/dev/null || { echo "relay_vs_rtpengine: PROFILE=1 needs perf (linux-perf)" >&2; exit 1; }
  pcalls=${PROFILE_CALLS:-2000}
  psec=${PROFILE_SECONDS:-5}
  log="$out/profile-webtrunk-$pcalls.txt"
  prio timeout $((setup_s + psec + 60)) "$tool" --relay webtrunk --calls "$pcalls" --seconds $((psec + 3)) \
    --setup-timeout "$setup_s" >"$log" 2>&1 &
  pid=$!
  # The relay is the tool's own process; record it once set-up is over (media starts right after).
  for ((t = 0; t < setup_s * 10; t++)); do grep -qs '^setup_done' "$log" && break; sleep 0.1; done
  sleep 1
  relay_pid=$(relay_of "$pid")
  [[ -n $relay_pid ]] || { echo "relay_vs_rtpengine: no relay process to profile" >&2; exit 1; }
  perf record -q -F 997 -g -p "$relay_pid" -o "$out/perf.data" -- sleep "$psec" >/dev/null 2>&1 || true
  wait "$pid" || true
  echo "# perf profile of webtrunk's relay, $pcalls calls, $psec s of media (perf report --no-children, top 30):"
  perf report -i "$out/perf.data" --no-children --stdio --sort dso,symbol --percent-limit 0.7 -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -n 30
fi
