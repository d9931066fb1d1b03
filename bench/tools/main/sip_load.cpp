// bench_sip_load: the load tool of bench/tools/sip_load.cpp as its own executable (`webtrunk bench calls`
// runs the same function).
#include "bench/tools/load.hpp"

int main(int argc, char** argv) { return webtrunk::bench::run_sip_load(argc, argv); }
