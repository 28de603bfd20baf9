// check: fail-stop invariant checks that stay on in every build. `assert` documents what a
// function expects and runs in the test builds (the sanitizer builds drop NDEBUG); ECOM_CHECK
// guards what must never happen in production either, because going on would make live state
// and replay disagree or acknowledge a lie: it prints what broke and where, and aborts.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace ecom::engine {

[[noreturn]] inline void check_failed(const char* condition, const char* what, const char* file,
                                      int line) {
  std::fprintf(stderr, "fatal: %s (%s) at %s:%d; stopping\n", what, condition, file, line);
  std::abort();
}

}  // namespace ecom::engine

#define ECOM_CHECK(condition, what)                                                       \
  do {                                                                                    \
    if (!(condition)) ::ecom::engine::check_failed(#condition, what, __FILE__, __LINE__); \
  } while (0)
