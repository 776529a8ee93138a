#pragma once
// The few browser facilities the console needs, behind plain C++ functions: sessionStorage, the
// URL hash (deep links, back/forward), the system clipboard, the wall clock and the page title.
// Only this file and api_client.cpp talk to JavaScript.

#include <cstdint>
#include <string>
#include <string_view>

namespace mambo::web::browser {

// sessionStorage: gone when the tab closes, never shared with other tabs or sent to a server.
std::string SessionGet(std::string_view key);
void SessionSet(std::string_view key, std::string_view value);
void SessionRemove(std::string_view key);

// The URL hash without '#' ("/webhooks/wh_1"). SetHash adds a history entry (back returns to the
// previous screen); ReplaceHash does not (redirects, normalisation).
std::string GetHash();
void SetHash(std::string_view hash);
void ReplaceHash(std::string_view hash);
// True once after the hash changed (link, back/forward, typed URL): the app reads GetHash() then.
bool ConsumeHashChanged();

// Installs clipboard hooks into ImGui: copy writes the system clipboard (navigator.clipboard, with
// a fallback for pages that are not a secure context); paste reads what the browser's paste event
// carried, which arrives before ImGui handles the Ctrl+V of the same key press.
void InstallClipboard();
void CopyToClipboard(std::string_view text);

// Milliseconds since the Unix epoch (the user's clock; the server's times are compared to it).
int64_t NowMs();

void SetTitle(std::string_view title);

// True once after something outside ImGui's input asked for a redraw (paste, hash change,
// visibility change): the frame loop draws only when something happened.
bool ConsumeWake();

}  // namespace mambo::web::browser
