#pragma once
// Sign in: paste an admin token. The token is checked against the API before it is kept (in
// sessionStorage only, by App), so a wrong token is refused here with the server's reason.

#include <functional>
#include <string>

namespace mambo::web {

struct ScreenContext;

struct SignInScreen {
  static constexpr const char* kTitle = "Sign in";

  std::string token;
  std::string error;  // why the last attempt or the previous session ended
  bool checking = false;
  int submits = 0;          // tests wait for the answer to their own submit
  bool focus_token = true;  // put the keyboard in the token field on the next frame

  // Asks App to check and keep the token.
  std::function<void(const std::string& token)> submit;

  void Draw(ScreenContext& ctx);
};

}  // namespace mambo::web
