// The `configure` RPC: the agent hands the validated request, with the booted slot it detected, to a
// ConfigApplier. ModelConfigApplier is the production one: it runs the seven configuration models of
// src/agent/config/ (kernel.sysctl, grub.cmdline.*, kubernetes.kubelet, ...) all or nothing on the host the
// host description names. Thread-safety: Apply is called with the agent's operation lock held (one call at
// a time).
#pragma once

#include "agent/host.h"
#include "agent/rpc.h"
#include "agent/slot.h"
#include "common/status.h"

namespace kubeos::agent {

class ConfigApplier {
 public:
  virtual ~ConfigApplier() = default;
  // Applies every config of the request or none (see config::ApplyConfigs). InvalidArgument for an unknown
  // model, a path outside the model's allowlist or a bad key/value (nothing written); the host's error for a
  // failed write (everything restored). Blocking.
  virtual Status Apply(const ConfigureRequest& request, Slot booted) = 0;
};

class ModelConfigApplier final : public ConfigApplier {
 public:
  explicit ModelConfigApplier(const HostDescription& host) : host_(host) {}
  Status Apply(const ConfigureRequest& request, Slot booted) override;

 private:
  const HostDescription host_;
};

}  // namespace kubeos::agent
