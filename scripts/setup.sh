#!/usr/bin/env bash
# Installs what webtrunk needs on Debian 12 (as root), only what is missing, then builds.
#   scripts/setup.sh            build dependencies, npm packages for the demo page, Release build
#   scripts/setup.sh --tests    also the test peers (Chromium, sipp, clang for fuzzing, npm test packages)
#   scripts/setup.sh --bench    also rtpengine and perf for bench/relay_vs_rtpengine.sh (not needed by any test)
# Idempotent: a second run with nothing missing installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
want_bench=0
for arg in "$@"; do
  case $arg in
    --tests) want_tests=1 ;;
    --bench) want_bench=1 ;;
    *) echo "setup: unknown option $arg (--tests, --bench)" >&2; exit 2 ;;
  esac
done

pkgs=(cmake ninja-build g++ pkg-config liburing-dev libssl-dev libnice-dev libsrtp2-dev libusrsctp-dev
      libfmt-dev libbenchmark-dev libgtest-dev libgmock-dev libsqlite3-dev nlohmann-json3-dev libc-ares-dev
      ca-certificates)
if (( want_tests )); then
  # dnsmasq-base: the DNS server (NAPTR/SRV/A) of the trunk-name tests, without the system service.
  pkgs+=(clang libclang-rt-14-dev chromium sip-tester iproute2 procps kamailio kamailio-tls-modules dnsmasq-base)
fi
if (( want_bench )); then
  # rtpengine 10.5 (userspace, the other relay of the media comparison) and perf for the profile.
  pkgs+=(rtpengine-daemon linux-perf)
fi
command -v node >/dev/null 2>&1 || pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "setup: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if (( want_tests )); then
  # playwright-core (the browser tests' driver) needs Node.js 20 or newer; Debian 12's own nodejs is 18.
  node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if (( node_major < 20 )); then
    echo "setup: the browser tests need Node.js >= 20 (found $(node --version 2>/dev/null || echo none))." >&2
    echo "setup: install a Node.js 20 package for Debian 12 (e.g. the nodesource repack) and run again." >&2
    exit 1
  fi
fi

npm_ci() {  # npm ci only when package-lock.json changed since the last install
  local dir=$1
  if [[ ! -d $dir/node_modules || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
if (( want_tests )); then
  npm_ci tests/integration
  # Rebuild the JsSIP and SIP.js bundles whenever the installed packages changed.
  if [[ ! -f tests/integration/dist/jssip.js || ! -f tests/integration/dist/sip.js ||
        tests/integration/node_modules/.package-lock.json -nt tests/integration/dist/jssip.js ||
        tests/integration/node_modules/.package-lock.json -nt tests/integration/dist/sip.js ]]; then
    (cd tests/integration && npm run --silent build)
  fi
fi
if [[ -f web/package-lock.json ]]; then
  npm_ci web
  # The demo page's bundle (JsSIP + app.js, esbuild): rebuilt when its packages or sources are newer.
  if [[ ! -f web/dist/app.js ||
        -n $(find web/src web/build.js web/node_modules/.package-lock.json -newer web/dist/app.js 2>/dev/null | head -n 1) ]]; then
    (cd web && npm run --silent build)
  fi
fi

build_type=${WEBTRUNK_BUILD_TYPE:-Release}
werror=${WEBTRUNK_WERROR:-ON}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DWEBTRUNK_WERROR="$werror" >/dev/null
ninja -C build
