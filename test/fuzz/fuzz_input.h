// Input format shared by the configuration-editor fuzz targets, chosen so seeds are easy to write by hand:
//
//   <request lines> NUL <file text>
//
// Each request line is "<op><key>\t<JSON value>", op '+' (add, empty operation), 'd' (delete) or 'u'
// ("update"); a value that is not valid JSON is used as a JSON string. Without a NUL the whole input is the
// file and the request is empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"

namespace kubeos::agent::config::fuzz {

struct Input {
  std::vector<ConfigEntry> entries;
  std::string text;
};

inline Input ParseInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);  // NOLINT: libFuzzer hands us bytes
  Input in;
  size_t nul = all.find('\0');
  if (nul == std::string_view::npos) {
    in.text = std::string(all);
    return in;
  }
  in.text = std::string(all.substr(nul + 1));
  std::string_view req = all.substr(0, nul);
  while (!req.empty()) {
    size_t nl = req.find('\n');
    std::string_view line = req.substr(0, nl);
    req = nl == std::string_view::npos ? std::string_view() : req.substr(nl + 1);
    if (line.empty()) continue;
    ConfigEntry e;
    e.operation = line[0] == 'd' ? "delete" : line[0] == 'u' ? "update" : "";
    line.remove_prefix(1);
    size_t tab = line.find('\t');
    e.key = std::string(line.substr(0, tab));
    if (tab != std::string_view::npos) {
      std::string_view v = line.substr(tab + 1);
      e.value = nlohmann::json::parse(v, nullptr, /*allow_exceptions=*/false);
      if (e.value.is_discarded()) e.value = std::string(v);
    }
    in.entries.push_back(std::move(e));
  }
  return in;
}

// The properties every editor must keep: it never crashes, and its output, edited again with the same
// request, is accepted and left exactly as it is (idempotence).
template <typename Edit>
void CheckEditor(const uint8_t* data, size_t size, Edit edit) {
  Input in = ParseInput(data, size);
  StatusOr<EditResult> first = edit(in.text, in.entries);
  if (!first.ok()) return;
  if (!first->changed && first->text != in.text) std::abort();  // "unchanged" must mean byte for byte
  StatusOr<EditResult> second = edit(first->text, in.entries);
  if (!second.ok() || second->changed || second->text != first->text) std::abort();
}

}  // namespace kubeos::agent::config::fuzz
