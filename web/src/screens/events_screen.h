#pragma once
// The team's event log: every ingested event, newest first, a page at a time, filtered by type
// and by an ingest time range, with a search box that opens an event by id. An opened event
// (#/events/<id>) shows its data and its delivery to each webhook; a delivery opens on its
// webhook's page.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mambo/models.h"

namespace mambo::web {

struct ScreenContext;

struct EventRow {
  std::string id, type;
  int64_t at = 0;
};

struct EventDetail {
  std::string id, type;
  int64_t at = 0;
  Json data;
  std::string data_text;  // pretty-printed once, when it arrives, not every frame
  int data_lines = 0;
  std::vector<Delivery> deliveries;
};

struct EventsScreen {
  static constexpr const char* kTitle = "Events";
  static constexpr int kPageSize = 50;
  // An opened event is re-read this often while one of its deliveries is still under way.
  static constexpr int64_t kLiveRefreshMs = 2000;

  // The list and the filters it was loaded with.
  std::vector<EventRow> events;
  std::optional<std::string> next_cursor;
  bool loading = false;
  bool loaded = false;
  std::string error;
  int type_filter = 0;  // 0 = all types, else 1 + index in EventCatalog()
  std::optional<int64_t> since, until;

  // What the user is typing; applied to the list on Enter or Apply.
  std::string since_text, until_text;
  std::string search_text;
  std::string search_error;

  // The opened event.
  std::string open_id;  // "" = none
  std::optional<EventDetail> detail;
  bool detail_loading = false;
  std::string detail_missing;  // "No event <id>": a 404, not an error
  std::string detail_error;
  int64_t detail_loaded_ms = 0;

  uint64_t generation = 0;         // per list query
  uint64_t detail_generation = 0;  // per opened event

  // `event_id` "" shows the list alone. `fresh`: coming from another screen, so the list is
  // read again; moving between events on this screen keeps the list, its filters and its pages.
  void Open(ScreenContext& ctx, const std::string& event_id, bool fresh);
  void Tick(ScreenContext& ctx);
  void Draw(ScreenContext& ctx);
  std::string Title() const;

 private:
  void ReloadList(ScreenContext& ctx);
  void LoadPage(ScreenContext& ctx, const std::string& cursor);
  void LoadDetail(ScreenContext& ctx);
  void ApplyRange(ScreenContext& ctx);
  void Search(ScreenContext& ctx);
  std::string ListQuery() const;
  bool DetailSettled() const;

  void DrawToolbar(ScreenContext& ctx);
  void DrawList(ScreenContext& ctx);
  void DrawDetail(ScreenContext& ctx);
  void DrawDeliveries(ScreenContext& ctx);
};

}  // namespace mambo::web
