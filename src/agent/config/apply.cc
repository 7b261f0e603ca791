// ApplyConfigs: validate and plan every model, then write, restoring on failure (see config.h).
#include <fmt/format.h>

#include <map>

#include "agent/config/config.h"
#include "agent/config/containerd_toml.h"
#include "agent/config/grub_cmdline.h"
#include "agent/config/kubelet_yaml.h"
#include "agent/config/pam_limits.h"
#include "agent/config/sysctl.h"
#include "agent/config/values.h"
#include "common/log.h"

namespace kubeos::agent::config {
namespace {

// Mode of a configuration file the request creates: readable by all, as the files it sits beside (the
// original meant 0644 for sysctl files but never applied it).
constexpr mode_t kNewFileMode = 0644;

enum class Kind { kSysctl, kSysctlPersist, kGrub, kKubelet, kContainerd, kPamLimits };

struct ModelSpec {
  std::string_view model;
  Kind kind;
  std::string_view default_path;        // empty: ApplyOptions::grub_cfg (grub) or none (kernel.sysctl)
  std::vector<std::string_view> dirs;   // the file's directory must be one of these
  std::vector<std::string_view> files;  // or the file one of these
  bool must_exist;
};

const std::vector<ModelSpec>& Specs() {
  static const std::vector<ModelSpec> kSpecs = {
      {kKernelSysctl, Kind::kSysctl, "", {}, {}, false},
      {kKernelSysctlPersist,
       Kind::kSysctlPersist,
       "/etc/sysctl.conf",
       {"/etc/sysctl.d"},
       {"/etc/sysctl.conf"},
       false},
      {kGrubCmdlineCurrent,
       Kind::kGrub,
       "",
       {"/boot/efi/EFI/openEuler", "/boot/efi/EFI/BOOT", "/boot/efi/EFI/kubeos", "/boot/grub2", "/boot/grub"},
       {},
       true},
      {kGrubCmdlineNext,
       Kind::kGrub,
       "",
       {"/boot/efi/EFI/openEuler", "/boot/efi/EFI/BOOT", "/boot/efi/EFI/kubeos", "/boot/grub2", "/boot/grub"},
       {},
       true},
      {kKubernetesKubelet,
       Kind::kKubelet,
       "/var/lib/kubelet/config.yaml",
       {"/var/lib/kubelet", "/etc/kubernetes", "/etc/kubernetes/kubelet.conf.d"},
       {},
       false},
      {kContainerContainerd,
       Kind::kContainerd,
       "/etc/containerd/config.toml",
       {"/etc/containerd", "/etc/containerd/conf.d"},
       {},
       false},
      {kPamLimits,
       Kind::kPamLimits,
       "/etc/security/limits.conf",
       {"/etc/security/limits.d"},
       {"/etc/security/limits.conf"},
       false},
  };
  return kSpecs;
}

const ModelSpec* FindSpec(std::string_view model) {
  for (const ModelSpec& s : Specs()) {
    if (s.model == model) return &s;
  }
  return nullptr;
}

// A path we accept: absolute, no empty, "." or ".." segment, no trailing '/', no control characters, and a
// file name that does not start with '.' (our own temporary files do).
Status CheckNormalised(std::string_view path) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(fmt::format("configpath {}: {}", Quote(path), why));
  };
  if (path.empty() || path[0] != '/') return bad("not an absolute path");
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad("contains a control character");
  }
  size_t b = 1;
  while (true) {
    size_t e = path.find('/', b);
    std::string_view seg = path.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
    if (seg.empty() || seg == "." || seg == "..")
      return bad("not a normalised path (empty, '.' or '..' part)");
    if (e == std::string_view::npos) {
      if (seg[0] == '.') return bad("hidden file names are not accepted");
      return Status::Ok();
    }
    b = e + 1;
  }
}

struct FileState {
  std::string model;  // first model that touched it (for messages)
  std::optional<std::string> original;
  std::string current;
};

struct SysctlState {
  std::string key;
  std::string old_value;  // as read, trailing newline removed
  std::string value;
  bool old_known = true;  // false: write-only parameter (e.g. vm.drop_caches, mode 0200): always written,
                          // never restored
};

std::string Context(const SysConfig& c, std::string_view path) {
  return path.empty() ? fmt::format("model {}", Quote(c.model))
                      : fmt::format("model {} ({})", Quote(c.model), path);
}

void LogWarnings(const SysConfig& c, std::string_view path, const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) {
    log::Warn("config entry skipped", {{"model", c.model}, {"path", path}, {"detail", w}});
  }
}

std::string StripNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

StatusOr<std::string> TargetPath(const SysConfig& config, const ApplyOptions& options) {
  const ModelSpec* spec = FindSpec(config.model);
  if (spec == nullptr) {
    return InvalidArgumentError(fmt::format(
        "unknown configuration model {}; known: kernel.sysctl, kernel.sysctl.persist, grub.cmdline.current, "
        "grub.cmdline.next, kubernetes.kubelet, container.containerd, pam.limits",
        Quote(config.model)));
  }
  if (spec->kind == Kind::kSysctl) return std::string();
  std::string path = config.configpath;
  if (path.empty()) path = spec->kind == Kind::kGrub ? options.grub_cfg : std::string(spec->default_path);
  // The default grub.cfg comes from our own options, not from the request: it is trusted as is.
  if (spec->kind == Kind::kGrub && config.configpath.empty()) return path;
  KUBEOS_RETURN_IF_ERROR(CheckNormalised(path));
  for (std::string_view f : spec->files) {
    if (path == f) return path;
  }
  std::string_view dir = std::string_view{path}.substr(0, path.rfind('/'));
  for (std::string_view d : spec->dirs) {
    if (dir == d) return path;
  }
  std::string allowed;
  for (std::string_view f : spec->files) allowed += (allowed.empty() ? "" : ", ") + std::string(f);
  for (std::string_view d : spec->dirs) allowed += (allowed.empty() ? "" : ", ") + std::string(d) + "/*";
  return InvalidArgumentError(
      fmt::format("configpath {} is outside the allowlist of {}: {}", Quote(path), config.model, allowed));
}

Status ApplyConfigs(const std::vector<SysConfig>& configs, const ConfigHost& host,
                    const ApplyOptions& options) {
  // Phase 1: validate and plan. Reads only.
  std::map<std::string, FileState> files;
  std::vector<std::string> file_order;
  std::map<std::string, SysctlState> sysctls;
  std::vector<std::string> sysctl_order;
  std::optional<Slot> booted;

  for (const SysConfig& c : configs) {
    KUBEOS_ASSIGN_OR_RETURN(std::string path, TargetPath(c, options));
    const ModelSpec& spec = *FindSpec(c.model);
    if (spec.kind == Kind::kSysctl) {
      if (!c.configpath.empty()) {
        log::Warn("configpath ignored", {{"model", c.model}, {"configpath", c.configpath}});
      }
      StatusOr<SysctlPlan> plan = PlanSysctl(c.contents);
      if (!plan.ok()) return plan.status().WithContext(Context(c, ""));
      LogWarnings(c, "", plan->warnings);
      for (SysctlWrite& w : plan->writes) {
        auto it = sysctls.find(w.path);
        if (it == sysctls.end()) {
          StatusOr<std::string> old = host.ReadSysctl(w.path);
          if (!old.ok() && old.status().code() == StatusCode::kPermissionDenied) {
            // Write-only parameter: the old value is unknown; write it anyway, without a restore.
            log::Warn("kernel parameter cannot be read; writing it without a restore on failure",
                      {{"model", c.model}, {"key", w.key}, {"error", old.status().ToString()}});
            sysctl_order.push_back(w.path);
            it = sysctls.emplace(w.path, SysctlState{w.key, "", "", /*old_known=*/false}).first;
          } else if (!old.ok()) {
            return old.status().WithContext(fmt::format("{}: key {}", Context(c, ""), Quote(w.key)));
          } else {
            sysctl_order.push_back(w.path);
            it = sysctls.emplace(w.path, SysctlState{w.key, StripNewline(*old), ""}).first;
          }
        }
        it->second.value = std::move(w.value);
      }
      continue;
    }

    auto it = files.find(path);
    if (it == files.end()) {
      StatusOr<std::optional<std::string>> data = host.ReadFile(path);
      if (!data.ok()) return data.status().WithContext(Context(c, path));
      if (!data->has_value()) {
        if (spec.must_exist) {
          return FailedPreconditionError(fmt::format("{}: the file does not exist", Context(c, path)));
        }
        std::string dir = path.substr(0, path.rfind('/'));
        StatusOr<bool> is_dir = host.IsDirectory(dir.empty() ? "/" : dir);
        if (!is_dir.ok()) return is_dir.status().WithContext(Context(c, path));
        if (!*is_dir) {
          return FailedPreconditionError(
              fmt::format("{}: directory {} does not exist; create it first", Context(c, path), dir));
        }
      }
      std::string current = data->value_or("");
      file_order.push_back(path);
      it = files.emplace(path, FileState{c.model, std::move(*data), std::move(current)}).first;
    }
    FileState& f = it->second;
    StatusOr<EditResult> edit = InternalError("unreachable");
    switch (spec.kind) {
      case Kind::kSysctlPersist:
        edit = EditSysctlConf(f.current, c.contents);
        break;
      case Kind::kGrub: {
        if (!booted) {
          StatusOr<Slot> s = host.BootedSlot();
          if (!s.ok()) return s.status().WithContext(Context(c, path));
          booted = *s;
        }
        Slot slot = c.model == kGrubCmdlineCurrent ? *booted : OtherSlot(*booted);
        edit = EditGrubCmdline(f.current, slot, c.contents);
        break;
      }
      case Kind::kKubelet:
        edit = EditKubeletYaml(f.current, c.contents);
        break;
      case Kind::kContainerd:
        edit = EditContainerdToml(f.current, c.contents);
        break;
      case Kind::kPamLimits:
        edit = EditPamLimits(f.current, c.contents);
        break;
      case Kind::kSysctl:
        break;
    }
    if (!edit.ok()) return edit.status().WithContext(Context(c, path));
    LogWarnings(c, path, edit->warnings);
    f.current = std::move(edit->text);
  }

  // Phase 2: write what changed, remembering how to undo it.
  std::vector<std::string> written_files;
  std::vector<std::string> written_sysctls;
  auto rollback = [&](const Status& failure) {
    std::vector<std::string> unrestored;
    for (auto p = written_sysctls.rbegin(); p != written_sysctls.rend(); ++p) {
      if (Status s = host.WriteSysctl(*p, sysctls[*p].old_value); !s.ok()) unrestored.push_back(s.ToString());
    }
    for (auto p = written_files.rbegin(); p != written_files.rend(); ++p) {
      const FileState& f = files[*p];
      Status s = f.original ? host.WriteFile(*p, *f.original, kNewFileMode) : host.RemoveFile(*p);
      if (!s.ok()) unrestored.push_back(s.ToString());
    }
    if (unrestored.empty()) {
      return Status(failure.code(), failure.message() + "; every change of the request was undone");
    }
    std::string list;
    for (const std::string& u : unrestored) list += (list.empty() ? "" : "; ") + u;
    return DataLossError(failure.message() + "; RESTORE FAILED, the host is partly configured: " + list);
  };

  for (const std::string& path : file_order) {
    const FileState& f = files[path];
    const bool changed = f.original ? f.current != *f.original : !f.current.empty();
    if (!changed) continue;
    if (Status s = host.WriteFile(path, f.current, kNewFileMode); !s.ok()) {
      return rollback(s.WithContext(fmt::format("model {} ({})", Quote(f.model), path)));
    }
    written_files.push_back(path);
    log::Info("config file written", {{"model", f.model}, {"path", path}});
  }
  for (const std::string& p : sysctl_order) {
    const SysctlState& st = sysctls[p];
    if (st.old_known && TrimWhitespace(st.old_value) == st.value) continue;
    if (Status s = host.WriteSysctl(p, st.value); !s.ok()) {
      return rollback(s.WithContext(fmt::format("model \"kernel.sysctl\": key {}", Quote(st.key))));
    }
    if (st.old_known) written_sysctls.push_back(p);  // a write-only parameter has nothing to restore
    log::Info("kernel parameter set", {{"key", st.key}, {"value", st.value}});
  }
  return Status::Ok();
}

}  // namespace kubeos::agent::config
