#pragma once
// The audit log: who changed or looked at what, newest first, with the before/after of each
// change. Pages load as the list scrolls.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mambo/models.h"

namespace mambo::web {

struct ScreenContext;

struct AuditEntry {
  std::string id, actor, action, target_id;
  int64_t at = 0;
  Json before, after;
};

struct AuditScreen {
  static constexpr const char* kTitle = "Audit log";

  std::vector<AuditEntry> entries;
  std::optional<std::string> next_cursor;
  bool loading = false;
  bool loaded = false;
  std::string error;
  int selected = -1;
  uint64_t generation = 0;

  void Open(ScreenContext& ctx);
  void Draw(ScreenContext& ctx);

 private:
  void LoadPage(ScreenContext& ctx, const std::string& cursor);
};

}  // namespace mambo::web
