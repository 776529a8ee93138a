#include "mambo/json_schema.h"

#include <array>
#include <cmath>
#include <set>

#include "mambo/text.h"

namespace mambo {
namespace {

// A schema's keywords nest no deeper than the documents they describe; a $ref cycle that never
// descends into the document would recurse for ever without this.
constexpr int kMaxSchemaDepth = static_cast<int>(kMaxJsonDepth) * 2;

const std::set<std::string_view>& Annotations() {
  static const std::set<std::string_view> names = {"$schema",  "$id",     "$comment",
                                                   "$defs",    "title",   "description",
                                                   "examples", "default", "deprecated"};
  return names;
}

const std::set<std::string_view>& Assertions() {
  static const std::set<std::string_view> names = {"$ref",
                                                   "type",
                                                   "enum",
                                                   "const",
                                                   "properties",
                                                   "required",
                                                   "minLength",
                                                   "maxLength",
                                                   "minimum",
                                                   "maximum",
                                                   "items",
                                                   "minItems",
                                                   "maxItems",
                                                   "minProperties",
                                                   "maxProperties",
                                                   "format",
                                                   "additionalProperties"};
  return names;
}

constexpr std::array<std::string_view, 7> kTypes = {"null",   "boolean", "object", "array",
                                                    "string", "number",  "integer"};

// A path segment as JSON pointer writes it (RFC 6901), cut short when a hostile document's key
// is long: errors echo it, and 50 of them must stay small.
std::string Segment(std::string_view key) {
  constexpr size_t kMaxKey = 64;
  std::string out;
  size_t i = 0;
  for (; i < key.size() && out.size() < kMaxKey; ++i) {
    if (key[i] == '~') {
      out += "~0";
    } else if (key[i] == '/') {
      out += "~1";
    } else {
      out += key[i];
    }
  }
  if (i < key.size()) {
    // Back to the start of a code point, so the cut leaves valid UTF-8.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += "...";
  }
  return out;
}

std::string Join(const std::string& base, std::string_view key) {
  return base.empty() ? Segment(key) : base + "/" + Segment(key);
}

bool IsIntegral(const Json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool TypeMatches(const Json& v, std::string_view type) {
  if (type == "null") return v.is_null();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "number") return v.is_number();
  if (type == "integer") return IsIntegral(v);
  return false;
}

std::string Article(std::string_view type) {
  if (type == "null") return "null";
  const bool vowel = type == "object" || type == "array" || type == "integer";
  return std::string(vowel ? "an " : "a ") + std::string(type);
}

std::string Count(int64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

bool Digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return false;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

int Number(std::string_view s, size_t at, size_t n) {
  int v = 0;
  for (size_t i = at; i < at + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

bool IsEmail(std::string_view s) {
  const size_t at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || at + 1 >= s.size()) return false;
  const std::string_view local = s.substr(0, at), domain = s.substr(at + 1);
  static constexpr std::string_view kLocalPunct = "!#$%&'*+/=?^_`{|}~.-";
  char prev = '.';  // no leading dot
  for (const char c : local) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && kLocalPunct.find(c) == std::string_view::npos) return false;
    if (c == '.' && prev == '.') return false;
    prev = c;
  }
  if (prev == '.') return false;
  size_t labels = 0, len = 0;
  prev = '.';
  for (const char c : domain) {
    if (c == '.') {
      if (len == 0 || prev == '-') return false;
      ++labels;
      len = 0;
    } else {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && !(c == '-' && len > 0)) return false;
      if (++len > 63) return false;
    }
    prev = c;
  }
  return len > 0 && prev != '-' && labels >= 1;
}

class Validator {
 public:
  Validator(const Json& root, FieldErrors& errors) : root_(root), errors_(errors) {}

  void Check(const Json& schema, const Json& v, const std::string& path, int depth) {
    if (errors_.size() >= kMaxSchemaErrors) return;
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) Add(path, "Not allowed here");
      return;
    }
    if (!schema.is_object()) return;
    if (depth > kMaxSchemaDepth) {
      Add(path, "The schema nests too deep to check this");
      return;
    }
    if (const auto ref = schema.find("$ref"); ref != schema.end()) {
      if (const Json* target = Resolve(root_, *ref)) Check(*target, v, path, depth + 1);
    }
    if (const auto type = schema.find("type"); type != schema.end() && !CheckType(*type, v, path)) {
      return;  // the other keywords would only repeat it
    }
    if (const auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
      bool found = false;
      std::string allowed;
      for (const Json& option : *e) {
        found = found || option == v;
        allowed += (allowed.empty() ? "" : ", ") + DumpJson(option);
      }
      if (!found) Add(path, "Must be one of " + allowed);
    }
    if (const auto c = schema.find("const"); c != schema.end() && *c != v) {
      Add(path, "Must be " + DumpJson(*c));
    }
    if (v.is_object()) CheckObject(schema, v, path, depth);
    if (v.is_array()) CheckArray(schema, v, path, depth);
    if (v.is_string()) CheckString(schema, v.get_ref<const std::string&>(), path);
    if (v.is_number()) CheckNumber(schema, v, path);
  }

  // "#/$defs/<name>" in `root`; nullptr otherwise.
  static const Json* Resolve(const Json& root, const Json& ref) {
    static constexpr std::string_view kPrefix = "#/$defs/";
    if (!ref.is_string()) return nullptr;
    const std::string& text = ref.get_ref<const std::string&>();
    if (text.rfind(kPrefix, 0) != 0) return nullptr;
    const auto defs = root.find("$defs");
    if (defs == root.end() || !defs->is_object()) return nullptr;
    const auto target = defs->find(text.substr(kPrefix.size()));
    return target == defs->end() ? nullptr : &*target;
  }

 private:
  void Add(const std::string& path, std::string message) {
    if (errors_.size() < kMaxSchemaErrors) errors_.push_back({path, std::move(message)});
  }

  bool CheckType(const Json& type, const Json& v, const std::string& path) {
    std::vector<std::string_view> names;
    if (type.is_string()) names.push_back(type.get_ref<const std::string&>());
    if (type.is_array()) {
      for (const Json& t : type) {
        if (t.is_string()) names.push_back(t.get_ref<const std::string&>());
      }
    }
    std::string expected;
    for (size_t i = 0; i < names.size(); ++i) {
      if (TypeMatches(v, names[i])) return true;
      expected += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + Article(names[i]);
    }
    Add(path, "Must be " + expected);
    return false;
  }

  void CheckObject(const Json& schema, const Json& v, const std::string& path, int depth) {
    const auto props = schema.find("properties");
    const bool has_props = props != schema.end() && props->is_object();
    if (const auto req = schema.find("required"); req != schema.end() && req->is_array()) {
      for (const Json& name : *req) {
        if (name.is_string() && !v.contains(name.get_ref<const std::string&>())) {
          Add(Join(path, name.get_ref<const std::string&>()), "Is required");
        }
      }
    }
    const auto extra = schema.find("additionalProperties");
    for (const auto& [key, value] : v.items()) {
      if (errors_.size() >= kMaxSchemaErrors) return;
      if (has_props) {
        if (const auto p = props->find(key); p != props->end()) {
          Check(*p, value, Join(path, key), depth + 1);
          continue;
        }
      }
      if (extra != schema.end()) {
        if (extra->is_boolean() && !extra->get<bool>()) {
          Add(Join(path, key), "Unknown field");
        } else {
          Check(*extra, value, Join(path, key), depth + 1);
        }
      }
    }
    const auto n = static_cast<int64_t>(v.size());
    if (const auto max = schema.find("maxProperties");
        max != schema.end() && max->is_number() && n > max->get<int64_t>()) {
      Add(path, "Must have at most " + Count(max->get<int64_t>(), "field", "fields"));
    }
    if (const auto min = schema.find("minProperties");
        min != schema.end() && min->is_number() && n < min->get<int64_t>()) {
      Add(path, "Must have at least " + Count(min->get<int64_t>(), "field", "fields"));
    }
  }

  void CheckArray(const Json& schema, const Json& v, const std::string& path, int depth) {
    const auto n = static_cast<int64_t>(v.size());
    if (const auto max = schema.find("maxItems");
        max != schema.end() && max->is_number() && n > max->get<int64_t>()) {
      Add(path, "Must have at most " + Count(max->get<int64_t>(), "item", "items"));
      return;  // a long list would fill the answer with its items' errors
    }
    if (const auto min = schema.find("minItems");
        min != schema.end() && min->is_number() && n < min->get<int64_t>()) {
      Add(path, "Must have at least " + Count(min->get<int64_t>(), "item", "items"));
    }
    if (const auto items = schema.find("items"); items != schema.end()) {
      for (size_t i = 0; i < v.size() && errors_.size() < kMaxSchemaErrors; ++i) {
        Check(*items, v[i], Join(path, std::to_string(i)), depth + 1);
      }
    }
  }

  void CheckString(const Json& schema, const std::string& s, const std::string& path) {
    const auto length = static_cast<int64_t>(Utf8Length(s).value_or(s.size()));
    if (const auto min = schema.find("minLength");
        min != schema.end() && min->is_number() && length < min->get<int64_t>()) {
      Add(path, min->get<int64_t>() == 1
                    ? "Must not be empty"
                    : "Must be at least " + Count(min->get<int64_t>(), "character", "characters"));
    }
    if (const auto max = schema.find("maxLength");
        max != schema.end() && max->is_number() && length > max->get<int64_t>()) {
      Add(path, "Must be at most " + Count(max->get<int64_t>(), "character", "characters"));
    }
    if (const auto format = schema.find("format"); format != schema.end()) {
      if (*format == "date-time" && !IsRfc3339DateTime(s)) {
        Add(path, "Must be an RFC 3339 date-time, e.g. 2026-03-01T09:30:00Z");
      } else if (*format == "email" && !IsEmail(s)) {
        Add(path, "Must be an email address");
      }
    }
  }

  void CheckNumber(const Json& schema, const Json& v, const std::string& path) {
    const double d = v.get<double>();
    if (const auto min = schema.find("minimum");
        min != schema.end() && min->is_number() && d < min->get<double>()) {
      Add(path, "Must be at least " + DumpJson(*min));
    }
    if (const auto max = schema.find("maximum");
        max != schema.end() && max->is_number() && d > max->get<double>()) {
      Add(path, "Must be at most " + DumpJson(*max));
    }
  }

  const Json& root_;
  FieldErrors& errors_;
};

void CollectKeywordErrors(const Json& root, const Json& schema, const std::string& path, int depth,
                          std::vector<std::string>& out) {
  if (schema.is_boolean()) return;
  const std::string where = path.empty() ? "(root)" : path;
  if (!schema.is_object()) {
    out.push_back(where + ": a schema must be an object or a boolean");
    return;
  }
  if (depth > kMaxSchemaDepth) {
    out.push_back(where + ": nests too deep");
    return;
  }
  for (const auto& [key, value] : schema.items()) {
    if (Annotations().count(key) == 0 && Assertions().count(key) == 0) {
      out.push_back(where + ": keyword \"" + key + "\" is not supported");
    }
  }
  if (const auto ref = schema.find("$ref");
      ref != schema.end() && Validator::Resolve(root, *ref) == nullptr) {
    out.push_back(where + ": $ref " + DumpJson(*ref) + " does not resolve to #/$defs/<name>");
  }
  if (const auto format = schema.find("format");
      format != schema.end() && *format != "date-time" && *format != "email") {
    out.push_back(where + ": format " + DumpJson(*format) + " is not supported");
  }
  if (const auto type = schema.find("type"); type != schema.end()) {
    const Json names = type->is_array() ? *type : Json::array({*type});
    for (const Json& t : names) {
      bool known = false;
      for (const std::string_view k : kTypes) known = known || (t.is_string() && t == k);
      if (!known) out.push_back(where + ": unknown type " + DumpJson(t));
    }
  }
  for (const char* container : {"properties", "$defs"}) {
    if (const auto c = schema.find(container); c != schema.end() && c->is_object()) {
      for (const auto& [name, sub] : c->items()) {
        CollectKeywordErrors(root, sub, Join(Join(path, container), name), depth + 1, out);
      }
    }
  }
  for (const char* single : {"items", "additionalProperties"}) {
    if (const auto s = schema.find(single); s != schema.end()) {
      CollectKeywordErrors(root, *s, Join(path, single), depth + 1, out);
    }
  }
}

}  // namespace

FieldErrors ValidateJsonSchema(const Json& schema, const Json& value, const std::string& base) {
  FieldErrors errors;
  Validator(schema, errors).Check(schema, value, base, 0);
  return errors;
}

std::vector<std::string> SchemaKeywordErrors(const Json& schema) {
  std::vector<std::string> out;
  CollectKeywordErrors(schema, schema, "", 0, out);
  return out;
}

bool IsRfc3339DateTime(std::string_view s) {
  // full-date "T" partial-time time-offset (RFC 3339 section 5.6).
  if (!Digits(s, 0, 4) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2) || s[7] != '-' ||
      !Digits(s, 8, 2) || (s[10] != 'T' && s[10] != 't') || !Digits(s, 11, 2) || s[13] != ':' ||
      !Digits(s, 14, 2) || s[16] != ':' || !Digits(s, 17, 2)) {
    return false;
  }
  const int year = Number(s, 0, 4), month = Number(s, 5, 2), day = Number(s, 8, 2);
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  if (day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) return false;
  // Second 60 is a leap second.
  if (Number(s, 11, 2) > 23 || Number(s, 14, 2) > 59 || Number(s, 17, 2) > 60) return false;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    const size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == s.size();
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    return i + 6 == s.size() && Digits(s, i + 1, 2) && s[i + 3] == ':' && Digits(s, i + 4, 2) &&
           Number(s, i + 1, 2) <= 23 && Number(s, i + 4, 2) <= 59;
  }
  return false;
}

}  // namespace mambo
