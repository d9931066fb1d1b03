// The load tools of bench/tools as functions (library webtrunk_load), so that their own executables
// (bench_sip_load, bench_media_relay, bench_auth_load: thin mains in bench/tools/main/) and
// `webtrunk bench` (app/main.cpp) run the same code. Only that main() includes this, never a module
// library (webtrunk_app included): DESIGN.md's arrows let bench/ depend on the modules, not the reverse.
//
// Each takes argv as main() does: argv[0] names the program in messages and help, the flags follow.
// It returns the exit status: 0 the run passed, 1 it failed or could not start, 2 a flag is unknown
// or malformed (the message names it); run_media_relay returns 3 when loss reached 0.1 % or a call
// failed. `--help` prints the flags and returns 0. The tools start and stop their own peers (an
// edge or auth service by PID, a forked child) and leave nothing running when they return.
#pragma once

namespace webtrunk::bench {

int run_sip_load(int argc, char** argv);     // sip_load.cpp: calls/s through a real `webtrunk edge`
int run_media_relay(int argc, char** argv);  // media_relay.cpp: SRTP <-> RTP relay loss, CPU, memory
int run_auth_load(int argc, char** argv);    // auth_load.cpp: token exchanges/s through `webtrunk auth`
int run_abuse(int argc, char** argv);        // abuse.cpp: floods against a real edge with calls in progress

// `webtrunk bench [MODE] [flags]` (bench_command.cpp): argv[0] is "bench", argv[1] the mode (calls,
// media, auth, abuse), or nothing for a short calls test then a short media test. The modes that start an
// edge or auth service run this same executable (/proc/self/exe) unless --edge-bin/--auth-bin say.
int run_bench_command(int argc, char** argv);

}  // namespace webtrunk::bench
