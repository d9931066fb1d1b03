// webtrunk: one binary, several subcommands (edge, auth, mint, servlet, demo, bench).
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "app/commands.hpp"
#ifdef WEBTRUNK_HAVE_LOAD_TEST
#include "bench/tools/load.hpp"
#endif

using webtrunk::app::commands;

namespace {

// `bench` runs the load tools of bench/ (linked into this executable, not into a library: no module,
// app/'s library included, depends on bench/). Its modes parse their own flags, so it is not a FlagSet command.
constexpr const char* kBenchSummary = "the bundled load test: calls, media relay, auth service";

int run_bench(int argc, char** argv) {
#ifdef WEBTRUNK_HAVE_LOAD_TEST
  try {
    return webtrunk::bench::run_bench_command(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "webtrunk bench: %s\n", e.what());
    return 1;
  }
#else
  (void)argc;
  (void)argv;
  std::fputs(
      "webtrunk bench: this binary was built without the load test (WEBTRUNK_BENCH=OFF); "
      "configure with -DWEBTRUNK_BENCH=ON to have it\n",
      stderr);
  return 1;
#endif
}

void print_usage(std::FILE* to) {
  std::string out =
      "webtrunk: a WebRTC trunk. Browsers call phone numbers; calls arrive on your SIP trunk.\n\n"
      "Usage: webtrunk COMMAND [flags]\n\nCommands:\n";
  for (const auto& c : commands()) out += fmt::format("  {:<9} {}\n", c.name, c.summary);
  out += fmt::format("  {:<9} {}\n", "bench", kBenchSummary);
  out += "\n`webtrunk COMMAND --help` lists the flags of a command.\n";
  std::fputs(out.c_str(), to);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_usage(stderr);
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(stdout);
    return 0;
  }
  if (args[0] == "--version") {
    std::puts("webtrunk 0.1.0");
    return 0;
  }
  if (args[0] == "bench") return run_bench(argc - 1, argv + 1);
  for (const auto& c : commands()) {
    if (args[0] != c.name) continue;
    std::vector<std::string> rest(args.begin() + 1, args.end());
    auto set = c.flags();
    if (set.help_requested(rest)) {
      std::fputs(set.help().c_str(), stdout);
      return 0;
    }
    auto parsed = set.parse(rest);
    if (!parsed) {
      std::fprintf(stderr, "webtrunk %s: %s\n", c.name, parsed.error().message.c_str());
      return 2;
    }
    try {
      return c.run(*parsed);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "webtrunk %s: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "webtrunk: unknown command '%s'\n\n", args[0].c_str());
  print_usage(stderr);
  return 2;
}
