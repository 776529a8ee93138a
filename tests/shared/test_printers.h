#pragma once
// GoogleTest printers for shared types, so failures show fields and messages instead of bytes.

#include <ostream>

#include "mambo/validation.h"

namespace mambo {

inline void PrintTo(const FieldError& e, std::ostream* os) {
  *os << "{field: \"" << e.field << "\", message: \"" << e.message << "\"}";
}

}  // namespace mambo
