#pragma once
// The team's API tokens (#/tokens): role, what each is for, when it was made, last used and
// expires; an admin makes one (its value shown once, with a copy button) and revokes one, with a
// confirmation that says so when it is the token of this session. A viewer sees the list only.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mambo/models.h"

namespace mambo::web {

struct ScreenContext;

struct TokenRow {
  std::string id, role, description;
  int64_t created_at = 0;
  std::optional<int64_t> expires_at, last_used_at;
  bool current = false;  // the token of this session
};

struct TokensScreen {
  static constexpr const char* kTitle = "API tokens";

  std::vector<TokenRow> rows;
  bool loading = false;
  bool loaded = false;
  std::string error;
  uint64_t generation = 0;

  // The create form.
  int role = 1;  // index into kRoles: viewer by default, the least that may be enough
  std::string description;
  std::string expires_at;  // RFC 3339, empty: never
  std::string form_error;
  bool creating = false;
  std::string created_token;  // the new token's value, shown until dismissed
  std::string created_id;

  // Revoking.
  std::string revoke_id;  // the row the confirmation is for
  bool open_revoke = false;
  bool revoking = false;

  void Open(ScreenContext& ctx);
  void Draw(ScreenContext& ctx);
  // Called when this session's own token was revoked (App ends the session).
  std::function<void()> on_self_revoked;

 private:
  void Load(ScreenContext& ctx);
  void DrawCreate(ScreenContext& ctx);
  void DrawList(ScreenContext& ctx);
  void DrawRevokeModal(ScreenContext& ctx);
};

}  // namespace mambo::web
