#include "agent/agent.h"

#include <fmt/format.h>

#include <thread>

#include "common/file.h"
#include "common/log.h"
#include "common/process.h"

namespace kubeos::agent {
namespace {

using nlohmann::json;

// A reboot command only has to hand the job to init; it must not take long.
constexpr std::chrono::seconds kRebootTimeout{60};
// How often the trial supervisor looks whether the trial was committed by someone else (CLI).
constexpr std::chrono::seconds kTrialPollInterval{1};
constexpr std::string_view kBusyMessage = "os-agent is processing another request";

// A trial health check, bounded by the trial deadline and by `stop`: SIGTERM must not wait for a slow check.
constexpr std::chrono::milliseconds kCheckPoll{50};
constexpr std::chrono::seconds kCheckStopGrace{2};
constexpr size_t kCheckOutputBytes = 4096;

StatusOr<RunResult> RunHealthCheck(const std::vector<std::string>& argv,
                                   std::chrono::steady_clock::time_point deadline,
                                   const std::stop_token& stop, const std::filesystem::path& output) {
  if (argv.empty()) return InvalidArgumentError("empty health check");
  std::error_code ec;
  std::filesystem::create_directories(output.parent_path(), ec);
  std::filesystem::remove(output, ec);
  KUBEOS_ASSIGN_OR_RETURN(Process p, Process::Spawn({.argv = argv, .output_file = output}));
  while (p.Running()) {
    if (stop.stop_requested()) {
      (void)p.Stop(kCheckStopGrace);
      return Status(StatusCode::kCancelled, "agent stopping");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      (void)p.Stop(kCheckStopGrace);
      return DeadlineExceededError(fmt::format("{} still running at the trial deadline", argv.front()));
    }
    std::this_thread::sleep_for(kCheckPoll);
  }
  RunResult r;
  r.exit_code = p.ExitCode().value_or(-1);
  r.output = ReadFile(output).value_or("").substr(0, kCheckOutputBytes);
  return r;
}

json SlotJson(const HostDescription& host, Slot s, const SlotRecord& r) {
  return {{"device", host.slot_path(s).string()},
          {"state", SlotStateName(r.state)},
          {"version", r.version},
          {"sha256", r.sha256}};
}

json OpJson(const std::optional<OperationRecord>& op) {
  if (!op) return nullptr;
  return {{"name", op->name}, {"ok", op->ok}, {"message", op->message}, {"unix_time", op->unix_time}};
}

}  // namespace

Agent::Agent(HostDescription host, ConfigApplier& configs, std::function<int64_t()> now)
    : host_(std::move(host)), configs_(configs), now_(std::move(now)) {}

StatusOr<GrubEnv> Agent::LoadEnv() const {
  StatusOr<GrubEnv> env = ReadGrubEnvFile(host_.boot_env);
  if (!env.ok() && env.status().code() == StatusCode::kNotFound) return GrubEnv{};
  if (!env.ok()) {
    return DataLossError(fmt::format(
        "{}; GRUB boots slot A without it. Recreate it for the slot that should boot, e.g. `grub-editenv {} "
        "create && grub-editenv {} set saved_entry=<A|B>`, then restart os-agent",
        env.status().message(), host_.boot_env.string(), host_.boot_env.string()));
  }
  if (env_unreconciled_) {
    return FailedPreconditionError(fmt::format(
        "boot env {} was unreadable when os-agent started; restart os-agent so it reconciles the env as it "
        "is now before any operation",
        host_.boot_env.string()));
  }
  return env;
}

StatusOr<Slot> Agent::Booted() const {
  std::lock_guard lock(mu_);
  if (!booted_) return booted_error_;
  return *booted_;
}

Status Agent::WriteState(const AgentState& state) {
  std::filesystem::path file = host_.state_file();
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return ErrnoError(ec.value(), "create " + file.parent_path().string());
  KUBEOS_RETURN_IF_ERROR(WriteFileAtomic(file, EncodeAgentState(state), {.mode = 0600}));
  std::lock_guard lock(mu_);
  state_ = state;
  return Status::Ok();
}

Status Agent::ApplyPlan(const BootPlan& plan) {
  auto write_env = [&]() -> Status {
    if (!plan.env) return Status::Ok();
    return WriteGrubEnvFile(host_.boot_env, *plan.env);
  };
  if (plan.order == WriteOrder::kEnvFirst) {
    KUBEOS_RETURN_IF_ERROR(write_env());
    KUBEOS_RETURN_IF_ERROR(WriteState(plan.state));
  } else {
    KUBEOS_RETURN_IF_ERROR(WriteState(plan.state));
    KUBEOS_RETURN_IF_ERROR(write_env());
  }
  log::Info("boot plan applied", {{"reason", plan.reason}, {"env_written", plan.env.has_value()}});
  return Status::Ok();
}

OperationRecord Agent::SuccessRecord(const std::string& name) const {
  return OperationRecord{.name = name, .ok = true, .message = "", .unix_time = now_()};
}

// `already_written`: the operation's own last state write carried the record (one durable write fewer).
void Agent::Record(const std::string& name, const Status& result, bool already_written) {
  AgentState s;
  {
    std::lock_guard lock(mu_);
    s = state_;
    running_op_.clear();
  }
  s.last_operation =
      OperationRecord{.name = name, .ok = result.ok(), .message = result.message(), .unix_time = now_()};
  if (already_written) {
    // nothing to write
  } else if (Status w = WriteState(s); !w.ok()) {
    log::Error("record operation result", {{"operation", name}, {"error", w.ToString()}});
  }
  if (result.ok()) {
    log::Info("operation done", {{"operation", name}});
  } else {
    log::Warn("operation failed", {{"operation", name}, {"error", result.ToString()}});
  }
}

Status Agent::Start() {
  // Before any env write of ours: temp files a cut left behind (see CleanStaleEnvTemps for FAT).
  CleanStaleEnvTemps(host_.boot_env);
  StatusOr<SlotEvidence> ev = GatherSlotEvidence(host_);
  StatusOr<Slot> booted = ev.ok() ? DecideBootedSlot(*ev) : StatusOr<Slot>(ev.status());
  AgentState state;
  StatusOr<std::string> text = ReadFile(host_.state_file());
  if (text.ok()) {
    StatusOr<AgentState> decoded = DecodeAgentState(*text);
    if (decoded.ok()) {
      state = *decoded;
    } else {
      std::filesystem::path aside = host_.state_file().string() + fmt::format(".corrupt-{}", now_());
      std::error_code ec;
      std::filesystem::rename(host_.state_file(), aside, ec);
      log::Error("agent state unreadable; set aside, starting with no slot knowledge",
                 {{"file", aside.string()}, {"error", decoded.status().ToString()}});
    }
  } else if (text.status().code() != StatusCode::kNotFound) {
    return text.status().WithContext("read agent state");
  }
  {
    std::lock_guard lock(mu_);
    state_ = state;
    if (booted.ok()) {
      booted_ = *booted;
    } else {
      booted_error_ = booted.status();
    }
  }
  if (!booted.ok()) {
    log::Error("cannot tell the booted slot; installs are refused", {{"error", booted.status().ToString()}});
    return Status::Ok();
  }
  StatusOr<GrubEnvReading> reading = InspectGrubEnvFile(host_.boot_env);
  // No env at all is GRUB's "boot A" too, and nothing to repair: the first trial writes one.
  if (!reading.ok() && reading.status().code() == StatusCode::kNotFound) {
    reading = GrubEnvReading{.canonical = true, .grub_can_write = true};
  }
  if (!reading.ok()) {
    // Neither grubenv nor its copy is a GRUB env block: GRUB boots slot A with no env. Keep serving (status
    // shows the error) but reconcile nothing and write nothing from an env that is not there; operations
    // that need the env fail with LoadEnv's error, which says how to recreate it (and to restart, so the
    // recreated env is reconciled here first).
    env_unreconciled_ = true;
    log::Error("boot env unreadable; status is served, operations are refused until it is recreated",
               {{"error", reading.status().ToString()}});
    return Status::Ok();
  }
  const GrubEnv& env = reading->env;
  BootPlan plan = ReconcileOnStart(state, env, *booted, ReadBootId(host_), now_(), reading->grub_can_write);
  SlotRecord& mine = plan.state.slot(*booted);
  if (mine.version.empty()) mine.version = ReadOsPrettyName(host_);
  const bool repair = !plan.env && !reading->canonical;
  if (plan.state != state || plan.env) {
    if (Status w = ApplyPlan(plan); !w.ok()) {
      // A read-only or damaged ESP (FAT remounts read-only on errors) must not turn into a restart loop
      // with no status: GRUB boots from the env as it is, and the next start or operation tries again.
      log::Error("reconcile at start could not write; serving, the next start retries",
                 {{"reason", plan.reason}, {"error", w.ToString()}});
    }
  }
  if (repair) {
    // GRUB reads these same variables (the file they came from may be cut, torn, laid out by another tool, or
    // be the copy). Written back whole to both files, GRUB's next in-place save_env (a count-down, a
    // fallback) lands in a complete block both sides read alike. Best effort: the env as it is still boots.
    if (Status w = WriteGrubEnvFile(host_.boot_env, env); w.ok()) {
      log::Warn("boot env was not in canonical form; rewritten with the same variables",
                {{"file", host_.boot_env.string()}});
    } else {
      log::Warn("boot env is not in canonical form and could not be rewritten; it still boots as it is",
                {{"file", host_.boot_env.string()}, {"error", w.ToString()}});
    }
  }
  log::Info("agent started", {{"booted_slot", SlotName(*booted)}, {"reconcile", plan.reason}});
  return Status::Ok();
}

StatusOr<json> Agent::Call(const std::string& method, const json& params,
                           const nlohmann::ordered_json* ordered_params) {
  if (method == "prepare_upgrade") {
    KUBEOS_ASSIGN_OR_RETURN(UpgradeRequest r, ParseUpgradeParams(params));
    return PrepareUpgrade(r);
  }
  if (method == "upgrade") return Upgrade();
  if (method == "rollback") return Rollback();
  if (method == "configure") {
    KUBEOS_ASSIGN_OR_RETURN(ConfigureRequest r, ordered_params != nullptr
                                                    ? ParseConfigureParams(*ordered_params)
                                                    : ParseConfigureParams(params));
    return Configure(r);
  }
  if (method == "mark_good") return MarkGood();
  if (method == "status") return GetStatus();
  return UnimplementedError(fmt::format("Method not found: {}", method));
}

#define KUBEOS_AGENT_EXCLUSIVE(name)                                     \
  std::unique_lock op_lock(op_mu_, std::try_to_lock);                    \
  if (!op_lock.owns_lock()) return BusyError(std::string(kBusyMessage)); \
  {                                                                      \
    std::lock_guard lock(mu_);                                           \
    running_op_ = name;                                                  \
  }

StatusOr<json> Agent::PrepareUpgrade(const UpgradeRequest& request) {
  KUBEOS_AGENT_EXCLUSIVE("prepare_upgrade");
  progress_.phase = InstallPhase::kIdle;  // not the previous install's phase while the request is checked
  progress_.bytes = 0;
  progress_.total = 0;
  auto run = [&]() -> Status {
    if (request.image_type == "docker" || request.image_type == "containerd") {
      return UnimplementedError(fmt::format(
          "image_type \"{}\" is not supported by this agent yet; use \"disk\"", request.image_type));
    }
    if (request.image_type != "disk") {
      return InvalidArgumentError(fmt::format("Invalid image type \"{}\"", request.image_type));
    }
    InstallRequest install{.fetch = {.url = request.image_url,
                                     .flag_safe = request.flag_safe,
                                     .mtls = request.mtls,
                                     .certs_dir = host_.certs_dir,
                                     .ca_cert = request.ca_cert,
                                     .client_cert = request.client_cert,
                                     .client_key = request.client_key,
                                     .stall_timeout = host_.stall_timeout},
                           .sha256 = request.check_sum};
    KUBEOS_RETURN_IF_ERROR(CheckFetchOptions(install.fetch));
    if (request.check_sum.size() != 64) {
      return InvalidArgumentError("check_sum must be the 64-hex-digit SHA-256 of the payload");
    }
    KUBEOS_ASSIGN_OR_RETURN(Slot booted, Booted());
    KUBEOS_ASSIGN_OR_RETURN(GrubEnv env, LoadEnv());
    AgentState state;
    {
      std::lock_guard lock(mu_);
      state = state_;
    }
    // Refuse now (booted slot on trial), but invalidate the standby only at the first payload byte: a
    // source that fails before any byte (404, TLS, missing file) leaves its verified image and version.
    KUBEOS_RETURN_IF_ERROR(PlanInstallStart(state, env, booted).status());
    install.before_first_write = [&]() -> Status {
      KUBEOS_ASSIGN_OR_RETURN(GrubEnv now_env, LoadEnv());
      AgentState now_state;
      {
        std::lock_guard lock(mu_);
        now_state = state_;
      }
      KUBEOS_ASSIGN_OR_RETURN(BootPlan start, PlanInstallStart(now_state, now_env, booted));
      return ApplyPlan(start);
    };
    KUBEOS_RETURN_IF_ERROR(InstallPayload(host_, OtherSlot(booted), install, progress_));
    {
      std::lock_guard lock(mu_);
      state = state_;
    }
    // The slot's new state and the operation record in one durable write.
    AgentState done = InstallDone(state, booted, request.version, request.check_sum);
    done.last_operation = SuccessRecord("prepare_upgrade");
    return WriteState(done);
  };
  Status s = run();
  Record("prepare_upgrade", s, /*already_written=*/s.ok());
  if (!s.ok()) return s;
  return json{{"status", "UpgradeReady"}};
}

StatusOr<json> Agent::Upgrade() {
  KUBEOS_AGENT_EXCLUSIVE("upgrade");
  auto run = [&]() -> Status {
    KUBEOS_ASSIGN_OR_RETURN(Slot booted, Booted());
    KUBEOS_ASSIGN_OR_RETURN(GrubEnv env, LoadEnv());
    AgentState state;
    {
      std::lock_guard lock(mu_);
      state = state_;
    }
    KUBEOS_ASSIGN_OR_RETURN(BootPlan plan, PlanArmTrial(state, env, booted, ReadBootId(host_)));
    return ApplyPlan(plan);
  };
  Status s = run();
  // Recorded before the reboot (which may end this process), and overwritten if the reboot fails.
  Record("upgrade", s);
  if (!s.ok()) return s;
  return RebootAfter("upgrade", "Upgraded");
}

StatusOr<json> Agent::Rollback() {
  KUBEOS_AGENT_EXCLUSIVE("rollback");
  auto run = [&]() -> Status {
    KUBEOS_ASSIGN_OR_RETURN(Slot booted, Booted());
    KUBEOS_ASSIGN_OR_RETURN(GrubEnv env, LoadEnv());
    AgentState state;
    {
      std::lock_guard lock(mu_);
      state = state_;
    }
    KUBEOS_ASSIGN_OR_RETURN(BootPlan plan, PlanRollback(state, env, booted, ReadBootId(host_)));
    return ApplyPlan(plan);
  };
  Status s = run();
  // Recorded before the reboot (which may end this process), and overwritten if the reboot fails.
  Record("rollback", s);
  if (!s.ok()) return s;
  return RebootAfter("rollback", "Rollbacked");
}

StatusOr<json> Agent::Configure(const ConfigureRequest& request) {
  KUBEOS_AGENT_EXCLUSIVE("configure");
  Status s = [&]() -> Status {
    KUBEOS_ASSIGN_OR_RETURN(Slot booted, Booted());
    return configs_.Apply(request, booted);
  }();
  Record("configure", s);
  if (!s.ok()) return s;
  return json{{"status", "Configured"}};
}

StatusOr<json> Agent::MarkGood() {
  KUBEOS_AGENT_EXCLUSIVE("mark_good");
  auto run = [&]() -> Status {
    KUBEOS_ASSIGN_OR_RETURN(Slot booted, Booted());
    KUBEOS_ASSIGN_OR_RETURN(GrubEnv env, LoadEnv());
    AgentState state;
    {
      std::lock_guard lock(mu_);
      state = state_;
    }
    KUBEOS_ASSIGN_OR_RETURN(BootPlan plan, PlanMarkGood(state, env, booted, now_()));
    return ApplyPlan(plan);
  };
  Status s = run();
  if (!s.ok()) {
    Record("mark_good", s);
    return s;
  }
  std::lock_guard lock(mu_);
  running_op_.clear();
  return json{{"status", "MarkedGood"}};
}

#undef KUBEOS_AGENT_EXCLUSIVE

json Agent::GetStatus() const {
  AgentState s;
  std::optional<Slot> booted;
  std::string booted_error;
  std::string running;
  {
    std::lock_guard lock(mu_);
    s = state_;
    booted = booted_;
    booted_error = booted_error_.ok() ? "" : booted_error_.ToString();
    running = running_op_;
  }
  json out;
  out["booted_slot"] = booted ? json(std::string(SlotName(*booted))) : json(nullptr);
  if (!booted) out["booted_slot_error"] = booted_error;
  out["booted_version"] = ReadOsPrettyName(host_);
  out["slots"] = {{"A", SlotJson(host_, Slot::kA, s.a)}, {"B", SlotJson(host_, Slot::kB, s.b)}};
  StatusOr<GrubEnv> env = LoadEnv();
  if (env.ok()) {
    json e = json::object();
    for (const auto& [k, v] : env->entries()) e[k] = v;
    out["boot_env"] = e;
    out["on_trial"] = booted && BootedOnTrial(*env, *booted);
  } else {
    out["boot_env_error"] = env.status().ToString();
  }
  out["trial"] =
      s.trial ? json{{"slot", SlotName(s.trial->slot)}, {"version", s.trial->version}} : json(nullptr);
  out["last_operation"] = OpJson(s.last_operation);
  out["last_fallback"] = OpJson(s.last_fallback);
  if (running.empty()) {
    out["operation"] = nullptr;
  } else if (running == "prepare_upgrade") {
    out["operation"] = {{"name", running},
                        {"phase", InstallPhaseName(progress_.phase.load())},
                        {"bytes", progress_.bytes.load()},
                        {"total", progress_.total.load()}};
  } else {
    // Install progress belongs to prepare_upgrade only: other operations must not show a past install's.
    out["operation"] = {{"name", running}};
  }
  return out;
}

StatusOr<json> Agent::RebootAfter(const std::string& operation, const std::string& result) {
  Status r = Reboot();
  if (!r.ok()) {
    Status failed = r.WithContext(
        fmt::format("{}: the boot env is armed but the host was not rebooted; reboot it, or call {} again",
                    operation, operation));
    Record(operation, failed);
    return failed;
  }
  return json{{"status", result}};
}

Status Agent::Reboot() {
  log::Info("rebooting", {{"command", fmt::format("{}", fmt::join(host_.reboot, " "))}});
  KUBEOS_ASSIGN_OR_RETURN(RunResult r, RunProgram(host_.reboot, kRebootTimeout));
  if (r.exit_code != 0) {
    return InternalError(fmt::format("reboot command {} failed with exit {}: {}", host_.reboot.front(),
                                     r.exit_code, r.output));
  }
  return Status::Ok();
}

void Agent::SuperviseTrial(const std::stop_token& stop) {
  StatusOr<Slot> booted = Booted();
  if (!booted.ok()) return;
  auto on_trial = [&] {
    StatusOr<GrubEnv> env = LoadEnv();
    return env.ok() && BootedOnTrial(*env, *booted);
  };
  if (!on_trial()) return;
  auto deadline = std::chrono::steady_clock::now() + host_.trial_deadline;
  std::string why;
  if (!host_.health_checks.empty()) {
    bool healthy = true;
    for (const auto& argv : host_.health_checks) {
      StatusOr<RunResult> r =
          RunHealthCheck(argv, deadline, stop, host_.state_file().parent_path() / "health-check.out");
      if (stop.stop_requested()) return;  // not a verdict: the next start runs the checks again
      if (!r.ok() || r->exit_code != 0) {
        log::Error("trial health check failed",
                   {{"check", argv.empty() ? "" : argv.front()},
                    {"error",
                     r.ok() ? fmt::format("exit {}: {}", r->exit_code, r->output) : r.status().ToString()}});
        healthy = false;
        break;
      }
    }
    if (healthy) {
      for (;;) {
        StatusOr<json> marked = MarkGood();
        if (marked.ok() || marked.status().code() != StatusCode::kBusy || stop.stop_requested()) break;
        std::this_thread::sleep_for(kTrialPollInterval);
      }
      return;
    }
    why = "failed its health checks";
  } else {
    while (!stop.stop_requested() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(kTrialPollInterval);
      if (!on_trial()) return;
    }
    if (stop.stop_requested()) return;
    log::Error("trial not marked good before the deadline",
               {{"deadline_seconds", host_.trial_deadline.count()}});
    why = fmt::format("was not marked good within {} s", host_.trial_deadline.count());
  }
  // Commit the env to the fallback slot before rebooting: the next boot is the old slot, not another try
  // of this one (GRUB's counter is for crashes and hangs, where the agent cannot act).
  for (;;) {
    Status abandoned = AbandonTrial(why);
    if (abandoned.ok()) break;
    if (abandoned.code() != StatusCode::kBusy || stop.stop_requested()) {
      log::Error("abandon failed trial", {{"error", abandoned.ToString()}});
      if (!on_trial()) return;  // committed by someone else meanwhile: nothing to abandon
      break;                    // reboot anyway: GRUB's counter still falls back eventually
    }
    std::this_thread::sleep_for(kTrialPollInterval);
  }
  if (Status s = Reboot(); !s.ok()) log::Error("reboot after failed trial", {{"error", s.ToString()}});
}

Status Agent::AbandonTrial(const std::string& why) {
  std::unique_lock op_lock(op_mu_, std::try_to_lock);
  if (!op_lock.owns_lock()) return BusyError(std::string(kBusyMessage));
  KUBEOS_ASSIGN_OR_RETURN(Slot booted, Booted());
  KUBEOS_ASSIGN_OR_RETURN(GrubEnv env, LoadEnv());
  AgentState state;
  {
    std::lock_guard lock(mu_);
    state = state_;
  }
  KUBEOS_ASSIGN_OR_RETURN(BootPlan plan, PlanAbandonTrial(state, env, booted, why, now_()));
  log::Error("trial abandoned", {{"slot", SlotName(booted)}, {"report", plan.reason}});
  return ApplyPlan(plan);
}

}  // namespace kubeos::agent
