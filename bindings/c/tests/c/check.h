/*
 * What every C test program counts with: `expect(ok, what)` notes a check,
 * and a failed one on stderr with the library's last error; the program
 * prints its summary from `checks` and `failures`. Included by each
 * tests/c program after mcpguard.h.
 */
#ifndef MCPGUARD_TEST_CHECK_H
#define MCPGUARD_TEST_CHECK_H

#include <stdio.h>

static int checks = 0;
static int failures = 0;

static void expect(int ok, const char *what) {
  checks++;
  if (!ok) {
    failures++;
    fprintf(stderr, "FAILED: %s (last error: %s)\n", what, mcpguard_last_error());
  }
}

#endif
