// Plumbing for the `configure` RPC: the agent hands the validated request to a ConfigApplier. The
// configuration models (kernel.sysctl, grub.cmdline.*, kubernetes.kubelet, ...) live in src/agent/config/ and
// implement this interface; until they are wired in, NotWiredConfigApplier answers with a clear error.
// Thread-safety: Apply is called with the agent's operation lock held (one call at a time).
#pragma once

#include "agent/rpc.h"
#include "common/status.h"

namespace kubeos::agent {

class ConfigApplier {
 public:
  virtual ~ConfigApplier() = default;
  // Applies the configs in request order. Returns InvalidArgument for an unknown model or bad value
  // (earlier configs stay applied, as in the original), errno-derived codes for file errors. Blocking.
  virtual Status Apply(const ConfigureRequest& request) = 0;
};

class NotWiredConfigApplier final : public ConfigApplier {
 public:
  Status Apply(const ConfigureRequest& request) override;
};

}  // namespace kubeos::agent
