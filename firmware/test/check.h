// A minimal unit-test harness for the host-compiled firmware tests.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace check {
typedef void (*TestFn)();
struct Test {
  const char* name;
  TestFn fn;
  Test* next;
};
Test*& registry();
int& failures();
struct Register {
  Register(Test* t) {
    t->next = registry();
    registry() = t;
  }
};
}  // namespace check

#define TEST(name)                                              \
  static void name();                                           \
  static check::Test name##_test = {#name, name, nullptr};      \
  static check::Register name##_register(&name##_test);         \
  static void name()

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      ++check::failures();                                                    \
    }                                                                         \
  } while (0)

#define CHECK_EQ(a, b)                                                                   \
  do {                                                                                   \
    const long long va_ = (long long)(a), vb_ = (long long)(b);                          \
    if (va_ != vb_) {                                                                    \
      std::printf("  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
                  va_, vb_);                                                             \
      ++check::failures();                                                               \
    }                                                                                    \
  } while (0)

// |a - b| <= tol * |b| (relative tolerance)
#define CHECK_REL(a, b, tol)                                                               \
  do {                                                                                     \
    const double va_ = (a), vb_ = (b);                                                     \
    if (!(std::fabs(va_ - vb_) <= (tol) * std::fabs(vb_))) {                               \
      std::printf("  %s:%d: %s ~ %s failed: %.6g vs %.6g\n", __FILE__, __LINE__, #a, #b, va_, \
                  vb_);                                                                    \
      ++check::failures();                                                                 \
    }                                                                                      \
  } while (0)
