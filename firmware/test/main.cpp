#include "check.h"

namespace check {
Test*& registry() {
  static Test* head = nullptr;
  return head;
}
int& failures() {
  static int n = 0;
  return n;
}
}  // namespace check

int main() {
  int tests = 0, failed_tests = 0;
  for (check::Test* t = check::registry(); t; t = t->next) {
    const int before = check::failures();
    t->fn();
    ++tests;
    if (check::failures() != before) {
      ++failed_tests;
      std::printf("FAIL %s\n", t->name);
    }
  }
  std::printf("%d tests, %d failed\n", tests, failed_tests);
  return failed_tests ? 1 : 0;
}
