// bench_abuse: the flood tool of bench/tools/abuse.cpp as its own executable (`webtrunk bench abuse`
// runs the same function).
#include "bench/tools/load.hpp"

int main(int argc, char** argv) { return webtrunk::bench::run_abuse(argc, argv); }
