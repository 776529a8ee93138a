#pragma once
// Runs the real webhookd binary for service tests: `serve --listen 127.0.0.1:0` in a temporary
// data dir, waiting for its "listening on" line on stdout (no sleeps), stopping it with a signal.

#include <httplib.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "mambo/models.h"

namespace mambo::testing {

// A fresh temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs webhookd with `args` to completion, capturing stdout and stderr.
CommandResult RunWebhookd(const std::vector<std::string>& args);
// `webhookd token create`; fails the test when it does not print a token.
std::string CreateToken(const std::string& data_dir, const std::string& team,
                        const std::string& role);

class WebhookdProcess {
 public:
  WebhookdProcess(std::string data_dir, std::vector<std::string> extra_args = {});
  ~WebhookdProcess();

  bool started() const { return port_ > 0; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Whether the process is still running (a dead child is reaped here: kill(pid, 0) succeeds on
  // a zombie, so it cannot tell). After it died, pid() is the dead process's id still.
  bool Running();
  // Sends `sig` and waits; returns the exit status (or 128 + signal).
  int Stop(int sig = 15);
  std::string Log() const;  // everything written to stderr so far

  httplib::Client Client() const;
  // JSON helpers: the response status and parsed body (null when empty/not JSON).
  struct Reply {
    int status = 0;
    Json body;
    std::string raw;
    httplib::Headers headers;
  };
  Reply Call(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body = "",
             const std::string& content_type = "application/json") const;

 private:
  std::string data_dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int port_ = 0;
};

}  // namespace mambo::testing
