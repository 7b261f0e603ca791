// Running other programs with argv vectors (never through a shell).
//
// Process owns a child: its destructor stops a child that is still running (SIGTERM, grace, SIGKILL).
// die_with_parent uses PR_SET_PDEATHSIG, which fires when the *thread* that spawned the child exits:
// spawn long-lived children from a long-lived thread. Thread-safety: a Process is used by one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kubeos {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program path (or a name looked up in PATH)
  // Added to (or replacing in) the parent's environment.
  std::vector<std::pair<std::string, std::string>> env;
  // When set, stdout and stderr are appended to this file; otherwise they are inherited.
  std::filesystem::path output_file;
  // Alternatively, an open descriptor (e.g. a pipe) to use as stdout and stderr; not closed by Spawn.
  int output_fd = -1;
  std::filesystem::path working_dir;
  bool new_session = false;     // setsid(): own process group, no controlling terminal
  bool die_with_parent = true;  // SIGKILL the child when the spawning thread exits
};

class Process {
 public:
  static StatusOr<Process> Spawn(const SpawnOptions& options);

  // Adopts an existing child or unrelated pid (e.g. read back from a state file). Only a child can be waited
  // for; for others, liveness comes from kill(pid, 0).
  static Process Adopt(pid_t pid, bool is_child);

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  bool Running();
  // The exit code (or 128+signal) once the child has ended; nullopt while running.
  std::optional<int> ExitCode();
  // SIGTERM, wait up to `grace`, then SIGKILL. OK if the process is already gone.
  Status Stop(std::chrono::milliseconds grace);
  // Blocks until the child ends; returns its exit code (or 128+signal).
  int Wait();
  // Gives up ownership: the destructor will no longer stop the child.
  void Release() { pid_ = -1; }

 private:
  Process(pid_t pid, bool is_child) : pid_(pid), is_child_(is_child) {}
  bool Reap(bool block);

  pid_t pid_ = -1;
  bool is_child_ = true;
  std::optional<int> exit_code_;
};

struct RunResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr interleaved
};

// Runs a program to completion, capturing its output. DeadlineExceeded if it runs longer than `timeout`
// (it is then killed). Non-zero exit codes are returned in RunResult, not as errors.
StatusOr<RunResult> RunProgram(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Start time of a process in clock ticks since boot (/proc/<pid>/stat field 22); 0 if it does not exist.
// Together with the pid it identifies a process across pid reuse.
uint64_t ProcessStartTicks(pid_t pid);

// Resident set size of a process in bytes, from /proc/<pid>/status; 0 if unknown.
uint64_t ResidentBytes(pid_t pid);
// Peak resident set size (high-water mark) of a process in bytes; 0 if unknown.
uint64_t PeakResidentBytes(pid_t pid);

// Looks a program up in the directories of PATH; empty if not found.
std::filesystem::path FindInPath(std::string_view name);

}  // namespace kubeos
