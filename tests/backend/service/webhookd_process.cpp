#include "service/webhookd_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mambo::testing {
namespace {

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The binary under test: the one built beside these tests, or MAMBO_WEBHOOKD_PATH (an older
// build, to show a test fails without a fix; a sanitized build).
std::string WebhookdPath() {
  const char* path = std::getenv("MAMBO_WEBHOOKD_PATH");
  return path != nullptr && *path != '\0' ? path : WEBHOOKD_PATH;
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mambo-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult RunWebhookd(const std::vector<std::string>& args) {
  std::vector<std::string> full{WebhookdPath()};
  full.insert(full.end(), args.begin(), args.end());
  int out_pipe[2], err_pipe[2];
  if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    auto argv = Argv(full);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  CommandResult r;
  r.out = ReadAll(out_pipe[0]);  // the child's output is small: no deadlock on stderr
  r.err = ReadAll(err_pipe[0]);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string CreateToken(const std::string& data_dir, const std::string& team,
                        const std::string& role) {
  auto r = RunWebhookd({"token", "create", "--team", team, "--role", role, "--data-dir", data_dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string token = r.out;
  while (!token.empty() && token.back() == '\n') token.pop_back();
  EXPECT_EQ(token.rfind("mwh_", 0), 0u) << "token create printed: " << r.out;
  return token;
}

WebhookdProcess::WebhookdProcess(std::string data_dir, std::vector<std::string> extra_args)
    : data_dir_(std::move(data_dir)), log_path_(data_dir_ + "/webhookd.log") {
  std::vector<std::string> args{WebhookdPath(), "serve",      "--listen",
                                "127.0.0.1:0",  "--data-dir", data_dir_};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  int out_pipe[2];
  if (::pipe(out_pipe) != 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(out_pipe[1], 1);
    ::dup2(log, 2);
    ::close(out_pipe[0]);
    auto argv = Argv(args);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  // Blocking reads until the listen line, or EOF when the process died first.
  std::string out;
  char c;
  while (::read(out_pipe[0], &c, 1) == 1) {
    if (c != '\n') {
      out.push_back(c);
      continue;
    }
    static constexpr std::string_view kPrefix = "webhookd listening on http";
    if (out.rfind(kPrefix, 0) == 0) {
      port_ = std::atoi(out.substr(out.rfind(':') + 1).c_str());
      break;
    }
    out.clear();
  }
  ::close(out_pipe[0]);
  if (port_ <= 0) ADD_FAILURE() << "webhookd did not start:\n" << Log();
}

WebhookdProcess::~WebhookdProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

bool WebhookdProcess::Running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == 0) return true;
  reaped_ = true;
  return false;
}

int WebhookdProcess::Stop(int sig) {
  if (pid_ <= 0) return -1;
  if (reaped_) {
    pid_ = -1;
    return -1;
  }
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string WebhookdProcess::Log() const {
  return ReadFile(log_path_);
}

httplib::Client WebhookdProcess::Client() const {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_tcp_nodelay(true);
  cli.set_connection_timeout(5, 0);
  cli.set_read_timeout(30, 0);
  return cli;
}

WebhookdProcess::Reply WebhookdProcess::Call(const std::string& method, const std::string& path,
                                             const std::string& token, const std::string& body,
                                             const std::string& content_type) const {
  httplib::Client cli = Client();
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  auto send = [&]() -> httplib::Result {
    if (method == "GET") return cli.Get(path.c_str(), headers);
    if (method == "DELETE") return cli.Delete(path.c_str(), headers);
    if (method == "PATCH") return cli.Patch(path.c_str(), headers, body, content_type.c_str());
    return cli.Post(path.c_str(), headers, body, content_type.c_str());
  };
  httplib::Result res = send();
  Reply r;
  if (!res) {
    ADD_FAILURE() << method << " " << path << " failed: " << httplib::to_string(res.error());
    return r;
  }
  r.status = res->status;
  r.raw = res->body;
  r.headers = res->headers;
  r.body = Json::parse(res->body, nullptr, false);
  if (r.body.is_discarded()) r.body = nullptr;
  return r;
}

}  // namespace mambo::testing
