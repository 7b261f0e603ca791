// Corpus replay for the libFuzzer targets without libFuzzer: a main that feeds every file named on the
// command line (directories are walked, in sorted order) to LLVMFuzzerTestOneInput once. Built with the
// normal compiler in every build and registered as a `unit` test per target, so the seed corpus is a
// regression suite in release and under ASan+UBSan; the targets abort on a broken property. Finding new
// inputs is hack/fuzz's job (clang, the `fuzz` preset).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::filesystem::path> Inputs(const std::filesystem::path& arg) {
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(arg)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(arg)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else if (std::filesystem::is_regular_file(arg)) {
    files.push_back(arg);
  }
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    auto files = Inputs(argv[i]);  // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic): argv
    if (files.empty()) {
      std::fprintf(stderr, "replay: %s: no input files\n", argv[i]);  // NOLINT: argv
      return 1;
    }
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) {
        (void)std::fprintf(stderr, "replay: cannot read %s\n", f.c_str());
        return 1;
      }
      (void)std::fprintf(stderr, "replay: %s (%zu bytes)\n", f.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());  // NOLINT
      ++replayed;
    }
  }
  if (replayed == 0) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);  // NOLINT: argv
    return 1;
  }
  (void)std::fprintf(stderr, "replay: %zu inputs, no finding\n", replayed);
  return 0;
}
