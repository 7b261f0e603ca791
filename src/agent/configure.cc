#include "agent/configure.h"

namespace kubeos::agent {

Status NotWiredConfigApplier::Apply(const ConfigureRequest& request) {
  std::string models;
  for (const auto& c : request.configs) models += (models.empty() ? "" : ", ") + c.model;
  return UnimplementedError(
      "configure: the configuration models are not built into this agent yet (requested: " + models +
      "); nothing was changed");
}

}  // namespace kubeos::agent
