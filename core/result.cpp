#include "core/result.hpp"

#include <cstring>

namespace webtrunk::core {

Error Error::from_errno(int neg_errno, std::string what) {
  what += ": ";
  what += std::strerror(-neg_errno);
  return Error{neg_errno, std::move(what)};
}

}  // namespace webtrunk::core
