#include "image/disk.h"

namespace kubeos::image {

StatusOr<DiskResult> BuildDisk(const DiskOptions& /*options*/) {
  return UnimplementedError("kbimg disk is not implemented yet");
}

}  // namespace kubeos::image
