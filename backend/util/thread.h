#pragma once
// Thread set-up shared by webhookd's long-lived threads: a name for top -H and perf, and a
// priority relative to the rest of the process.

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace mambo {

// Names the calling thread (at most 15 characters show) and moves it `nice` steps from the
// process's priority (negative: ahead of the others; needs CAP_SYS_NICE or RLIMIT_NICE).
// Returns "" on success, else why the priority could not be set (the name is always set).
inline std::string SetUpThread(const char* name, int nice) {
  pthread_setname_np(pthread_self(), name);
  if (nice != 0 && setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice) != 0) {
    return std::strerror(errno);
  }
  return "";
}

}  // namespace mambo
