#include "browser.h"

#include <emscripten/emscripten.h>
#include <imgui.h>

#include <cstdlib>

// clang-format off
EM_JS(char*, mambo_js_session_get, (const char* key), {
  var v = null;
  try { v = window.sessionStorage.getItem(UTF8ToString(key)); } catch (e) {}
  if (v === null) v = "";
  var n = lengthBytesUTF8(v) + 1;
  var p = _malloc(n);
  stringToUTF8(v, p, n);
  return p;
});
EM_JS(void, mambo_js_session_set, (const char* key, const char* value), {
  try { window.sessionStorage.setItem(UTF8ToString(key), UTF8ToString(value)); } catch (e) {}
});
EM_JS(void, mambo_js_session_remove, (const char* key), {
  try { window.sessionStorage.removeItem(UTF8ToString(key)); } catch (e) {}
});
EM_JS(char*, mambo_js_get_hash, (), {
  var h = window.location.hash || "";
  if (h.charAt(0) === '#') h = h.substring(1);
  try { h = decodeURI(h); } catch (e) {}
  var n = lengthBytesUTF8(h) + 1;
  var p = _malloc(n);
  stringToUTF8(h, p, n);
  return p;
});
EM_JS(void, mambo_js_set_hash, (const char* hash, int replace), {
  var h = '#' + UTF8ToString(hash);
  if (replace) {
    window.history.replaceState(null, "", h);
  } else if (window.location.hash !== h) {
    window.location.hash = h;  // fires hashchange: the app follows it like a link
  }
});
EM_JS(void, mambo_js_install_listeners, (), {
  Module.mamboHashChanged = 0;
  Module.mamboWake = 0;
  Module.mamboPaste = "";
  window.addEventListener('hashchange', function () {
    Module.mamboHashChanged = 1;
    Module.mamboWake = 1;
  });
  document.addEventListener('paste', function (e) {
    var t = e.clipboardData ? e.clipboardData.getData('text/plain') : "";
    Module.mamboPaste = t || "";
    Module.mamboWake = 1;
  });
  document.addEventListener('visibilitychange', function () { Module.mamboWake = 1; });
});
EM_JS(int, mambo_js_consume_hash_changed, (), {
  var v = Module.mamboHashChanged | 0;
  Module.mamboHashChanged = 0;
  return v;
});
EM_JS(int, mambo_js_consume_wake, (), {
  var v = Module.mamboWake | 0;
  Module.mamboWake = 0;
  return v;
});
EM_JS(char*, mambo_js_pasted, (), {
  var v = Module.mamboPaste || "";
  var n = lengthBytesUTF8(v) + 1;
  var p = _malloc(n);
  stringToUTF8(v, p, n);
  return p;
});
EM_JS(void, mambo_js_copy, (const char* text), {
  var t = UTF8ToString(text);
  Module.mamboPaste = t;  // what this page copied is what its own paste gives back at once
  Module.mamboCopied = t; // tests read it when the page may not touch the system clipboard
  function fallback() {
    var ta = document.createElement('textarea');
    ta.value = t;
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand('copy'); } catch (e) {}
    ta.remove();
    var c = document.getElementById('canvas');
    if (c) c.focus();
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(t).catch(fallback);
  } else {
    fallback();
  }
});
EM_JS(double, mambo_js_now_ms, (), { return Date.now(); });
EM_JS(void, mambo_js_set_title, (const char* title), { document.title = UTF8ToString(title); });
// clang-format on

namespace mambo::web::browser {
namespace {

std::string TakeString(char* p) {
  std::string s = p ? p : "";
  std::free(p);
  return s;
}

bool g_listeners = false;
void EnsureListeners() {
  if (g_listeners) return;
  g_listeners = true;
  mambo_js_install_listeners();
}

}  // namespace

std::string SessionGet(std::string_view key) {
  return TakeString(mambo_js_session_get(std::string(key).c_str()));
}
void SessionSet(std::string_view key, std::string_view value) {
  mambo_js_session_set(std::string(key).c_str(), std::string(value).c_str());
}
void SessionRemove(std::string_view key) {
  mambo_js_session_remove(std::string(key).c_str());
}

std::string GetHash() {
  return TakeString(mambo_js_get_hash());
}
void SetHash(std::string_view hash) {
  mambo_js_set_hash(std::string(hash).c_str(), 0);
}
void ReplaceHash(std::string_view hash) {
  mambo_js_set_hash(std::string(hash).c_str(), 1);
}
bool ConsumeHashChanged() {
  EnsureListeners();
  return mambo_js_consume_hash_changed() != 0;
}

void InstallClipboard() {
  EnsureListeners();
  ImGuiIO& io = ImGui::GetIO();
  io.SetClipboardTextFn = [](void*, const char* text) { mambo_js_copy(text); };
  io.GetClipboardTextFn = [](void*) -> const char* {
    static std::string pasted;
    pasted = TakeString(mambo_js_pasted());
    return pasted.c_str();
  };
}

void CopyToClipboard(std::string_view text) {
  mambo_js_copy(std::string(text).c_str());
}

int64_t NowMs() {
  return static_cast<int64_t>(mambo_js_now_ms());
}

void SetTitle(std::string_view title) {
  mambo_js_set_title(std::string(title).c_str());
}

bool ConsumeWake() {
  EnsureListeners();
  return mambo_js_consume_wake() != 0;
}

}  // namespace mambo::web::browser
