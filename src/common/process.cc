#include "common/process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

extern char** environ;  // NOLINT: POSIX

namespace kubeos {
namespace {

// A SIGKILLed process normally vanishes within milliseconds; one stuck in uninterruptible I/O may take
// longer.
constexpr auto kSigkillWait = std::chrono::seconds(10);

// A zombie is dead but not yet reaped by its parent (not us): for an adopted pid that means "exited".
bool IsZombie(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

int DecodeWaitStatus(int ws) {
  if (WIFEXITED(ws)) return WEXITSTATUS(ws);
  if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
  return -1;
}

// Everything the child needs, prepared before fork() so the child only makes async-signal-safe calls.
struct ExecPlan {
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

ExecPlan MakePlan(const SpawnOptions& o, std::vector<std::string>& argv_storage) {
  ExecPlan plan;
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : o.env) env[k] = v;
  plan.env_storage.reserve(env.size());
  for (const auto& [k, v] : env) plan.env_storage.push_back(k + "=" + v);
  for (auto& s : plan.env_storage) plan.envp.push_back(s.data());
  plan.envp.push_back(nullptr);
  argv_storage = o.argv;
  for (auto& s : argv_storage) plan.argv.push_back(s.data());
  plan.argv.push_back(nullptr);
  return plan;
}

std::string ResolveProgram(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return prog;
  auto found = FindInPath(prog);
  return found.empty() ? prog : found.string();
}

[[noreturn]] void ChildFail(int fd, int err) {
  // Report errno to the parent through the close-on-exec pipe.
  (void)!write(fd, &err, sizeof err);
  _exit(127);
}

}  // namespace

std::filesystem::path FindInPath(std::string_view name) {
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe): read-only use
  std::string_view rest = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    if (dir.empty()) continue;
    std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

StatusOr<Process> Process::Spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return InvalidArgumentError("spawn: empty argv");
  std::vector<std::string> argv_storage;
  ExecPlan plan = MakePlan(o, argv_storage);
  std::string program = ResolveProgram(o.argv[0]);

  int out_fd = -1;
  if (o.output_fd >= 0) {
    out_fd = fcntl(o.output_fd, F_DUPFD_CLOEXEC, 0);
    if (out_fd < 0) return ErrnoError(errno, "dup output descriptor");
  } else if (!o.output_file.empty()) {
    out_fd = open(o.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (out_fd < 0) return ErrnoError(errno, "open " + o.output_file.string());
  }
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    if (out_fd >= 0) close(out_fd);
    return ErrnoError(e, "pipe");
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(err_pipe[0]);
    close(err_pipe[1]);
    if (out_fd >= 0) close(out_fd);
    return ErrnoError(e, "fork for " + o.argv[0]);
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    if (o.new_session) setsid();
    if (o.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // parent already gone
    }
    if (out_fd >= 0) {
      if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0) ChildFail(err_pipe[1], errno);
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Nothing else of ours leaks into the child: a detached daemon must not hold the caller's pipes.
    // (CLOEXEC rather than close: the error pipe must stay usable until execve succeeds.)
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    // Ignored signals survive exec; give the child default dispositions.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
    if (!o.working_dir.empty() && chdir(o.working_dir.c_str()) != 0) ChildFail(err_pipe[1], errno);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // NOLINT(concurrency-mt-unsafe): single-threaded child
    execve(program.c_str(), plan.argv.data(), plan.envp.data());
    ChildFail(err_pipe[1], errno);
  }
  close(err_pipe[1]);
  if (out_fd >= 0) close(out_fd);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(err_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int ws = 0;
    waitpid(pid, &ws, 0);
    return ErrnoError(child_errno, "exec " + program);
  }
  return Process(pid, true);
}

Process Process::Adopt(pid_t pid, bool is_child) { return {pid, is_child}; }

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), is_child_(other.is_child_), exit_code_(other.exit_code_) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) (void)Stop(std::chrono::seconds(5));
    pid_ = std::exchange(other.pid_, -1);
    is_child_ = other.is_child_;
    exit_code_ = other.exit_code_;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0) (void)Stop(std::chrono::seconds(5));
}

bool Process::Reap(bool block) {
  if (exit_code_) return true;
  if (pid_ <= 0) return true;
  if (!is_child_) {
    if ((kill(pid_, 0) != 0 && errno == ESRCH) || IsZombie(pid_)) {
      exit_code_ = -1;
      return true;
    }
    return false;
  }
  int ws = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &ws, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_code_ = DecodeWaitStatus(ws);
    return true;
  }
  if (r < 0 && errno == ECHILD) {
    exit_code_ = -1;
    return true;
  }
  return false;
}

bool Process::Running() { return !Reap(false); }

std::optional<int> Process::ExitCode() {
  Reap(false);
  return exit_code_;
}

int Process::Wait() {
  if (!is_child_) {
    while (!Reap(false)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } else {
    Reap(true);
  }
  return exit_code_.value_or(-1);
}

Status Process::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || Reap(false)) return Status::Ok();
  if (kill(pid_, SIGTERM) != 0 && errno != ESRCH) return ErrnoError(errno, "kill " + std::to_string(pid_));
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Reap(false)) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  if (is_child_) {
    Reap(true);
    return Status::Ok();
  }
  // Not our child: we cannot wait for it, only watch it disappear (or turn into a zombie).
  const auto kill_deadline = std::chrono::steady_clock::now() + kSigkillWait;
  while (!Reap(false)) {
    if (std::chrono::steady_clock::now() >= kill_deadline) {
      return UnavailableError("process " + std::to_string(pid_) + " survived SIGKILL for 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Ok();
}

StatusOr<RunResult> RunProgram(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (argv.empty()) return InvalidArgumentError("run: empty argv");
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  SpawnOptions o;
  o.argv = argv;
  o.output_fd = out_pipe[1];
  auto proc = Process::Spawn(o);
  close(out_pipe[1]);
  if (!proc.ok()) {
    close(out_pipe[0]);
    return proc.status();
  }
  RunResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  bool timed_out = false;
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{out_pipe[0], POLLIN, 0};
    int pr = poll(&pfd, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      timed_out = true;
      break;
    }
    ssize_t n = read(out_pipe[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  if (timed_out) {
    (void)proc->Stop(std::chrono::milliseconds(500));
    return DeadlineExceededError(argv[0] + " did not finish within " + std::to_string(timeout.count()) +
                                 " ms");
  }
  result.exit_code = proc->Wait();
  return result;
}

uint64_t ProcessStartTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  // Fields after "(comm)": state is field 3; starttime is field 22.
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 22) return std::strtoull(field.c_str(), nullptr, 10);
  }
  return 0;
}

namespace {
uint64_t StatusKib(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::strtoull(line.c_str() + field.size(), nullptr, 10) * 1024;
  }
  return 0;
}
}  // namespace

uint64_t ResidentBytes(pid_t pid) { return StatusKib(pid, "VmRSS:"); }
uint64_t PeakResidentBytes(pid_t pid) { return StatusKib(pid, "VmHWM:"); }

}  // namespace kubeos
