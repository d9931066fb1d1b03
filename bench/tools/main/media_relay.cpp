// bench_media_relay: the load tool of bench/tools/media_relay.cpp as its own executable (`webtrunk bench media`
// runs the same function).
#include "bench/tools/load.hpp"

int main(int argc, char** argv) { return webtrunk::bench::run_media_relay(argc, argv); }
