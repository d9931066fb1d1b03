// bench_auth_load: the load tool of bench/tools/auth_load.cpp as its own executable (`webtrunk bench auth`
// runs the same function).
#include "bench/tools/load.hpp"

int main(int argc, char** argv) { return webtrunk::bench::run_auth_load(argc, argv); }
