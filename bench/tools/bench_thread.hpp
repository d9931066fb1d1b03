// The calling thread's CPU pinning and CPU time, for load tools that measure one thread's cost.
// (bench_udp_relay and bench_sip_load have their own copies of these two; they can use this one.)
#pragma once

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <string>

namespace webtrunk::bench {

// Pins the calling thread to `cpu`; "" on success, else why not.
inline std::string pin_thread(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (const int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set); rc != 0) {
    return "cannot pin to CPU " + std::to_string(cpu) + ": error " + std::to_string(rc);
  }
  return {};
}

// CPU seconds the calling thread has used (user + system), CLOCK_THREAD_CPUTIME_ID.
inline double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace webtrunk::bench
