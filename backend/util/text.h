#pragma once
// Small text helpers shared by parsers of operator input and of receivers' answers.

#include <string_view>

namespace mambo {

// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace).
inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace mambo
