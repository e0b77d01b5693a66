/*
 * A pre-forking gateway's worker, run by `make -C bindings/c test` under
 * valgrind (shared library) and ASan + UBSan (static library): the guard is
 * built before fork, with keys fetched from a `jwks_uri`. fork copies no
 * thread, so the child has no key-fetching thread until
 * `mcpguard_guard_after_fork` starts its own; freeing the guard in the child
 * then stops and joins that thread, never the parent's (which would wait for
 * ever). An alarm fails a child that hangs. Prints one line and exits 0 when
 * every check passes, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcpguard.h"

#include "check.h"

/* Threads of this process named `name` (from /proc/self/task/<tid>/comm). */
static int threads_named(const char *name) {
  DIR *tasks = opendir("/proc/self/task");
  if (tasks == NULL) {
    return -1;
  }
  int n = 0;
  struct dirent *t;
  while ((t = readdir(tasks)) != NULL) {
    if (t->d_name[0] == '.') {
      continue;
    }
    char path[300];
    char comm[64] = {0};
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", t->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
      continue;
    }
    if (fgets(comm, sizeof comm, f) != NULL) {
      comm[strcspn(comm, "\n")] = '\0';
      n += strcmp(comm, name) == 0;
    }
    fclose(f);
  }
  closedir(tasks);
  return n;
}

/* Waits up to five seconds for `n` threads named `name` (a thread names
 * itself once it runs). */
static int wait_for_threads(const char *name, int n) {
  const struct timespec tick = {0, 10 * 1000 * 1000};
  for (int i = 0; i < 500; i++) {
    if (threads_named(name) == n) {
      return 1;
    }
    nanosleep(&tick, NULL);
  }
  return threads_named(name) == n;
}

/* Waits up to thirty seconds for `n` of the guard's key fetches to have
 * failed (nothing listens), then three tenths of a second more. */
static int wait_for_failed_fetches(const mcpguard_guard *guard, int n) {
  const struct timespec tick = {0, 20 * 1000 * 1000};
  char line[64];
  snprintf(line, sizeof line, "\nmcpguard_jwks_fetch_failures_total %d\n", n);
  for (int i = 0; i < 1500; i++) {
    char *text = NULL;
    int done = 0;
    if (mcpguard_guard_metrics_text(guard, &text) == MCPGUARD_RESULT_OK) {
      done = strstr(text, line) != NULL;
      mcpguard_string_free(text);
    }
    if (done) {
      const struct timespec settle = {0, 300 * 1000 * 1000};
      nanosleep(&settle, NULL);
      return 1;
    }
    nanosleep(&tick, NULL);
  }
  return 0;
}

int main(void) {
  /* Nothing listens on port 9: the fetches fail, the thread keeps trying. */
  const char *config =
      "{\"resource\":\"https://mcp.example.com/mcp\",\"auth\":{\"issuers\":[{"
      "\"issuer\":\"https://auth.example.com\",\"jwks_uri\":\"http://127.0.0.1:9/jwks.json\"}]}}";
  mcpguard_guard *guard = NULL;
  expect(mcpguard_guard_new(config, strlen(config), &guard) == MCPGUARD_RESULT_OK, "guard built");
  if (guard == NULL) {
    fprintf(stderr, "fork: no guard\n");
    return 1;
  }
  expect(wait_for_threads("mcpguard-fetch", 1), "the parent runs a key-fetching thread");
  /* Fork while that thread waits out its backoff (two seconds after its
   * second failed fetch), as a pre-forking server forks between requests:
   * a lock a thread holds at the fork stays held in the child for ever
   * (POSIX), whatever the library does. */
  expect(wait_for_failed_fetches(guard, 2), "two fetches were tried");
  expect(mcpguard_guard_after_fork(guard) == MCPGUARD_RESULT_OK, "after_fork in the parent");
  expect(threads_named("mcpguard-fetch") == 1, "after_fork in the parent starts nothing");
  expect(mcpguard_guard_after_fork(NULL) == MCPGUARD_RESULT_NULL_PARAMETER, "after_fork(NULL)");

  fflush(NULL);
  pid_t child = fork();
  if (child == 0) {
    alarm(60);
    expect(threads_named("mcpguard-fetch") == 0, "fork copies no thread");
    expect(mcpguard_guard_after_fork(guard) == MCPGUARD_RESULT_OK, "after_fork in the child");
    expect(wait_for_threads("mcpguard-fetch", 1), "the child runs its own key-fetching thread");
    expect(mcpguard_guard_after_fork(guard) == MCPGUARD_RESULT_OK, "after_fork again");
    expect(threads_named("mcpguard-fetch") == 1, "still one thread");
    mcpguard_guard_free(guard); /* joins the child's thread, not the parent's */
    expect(wait_for_threads("mcpguard-fetch", 0), "freeing the guard stopped the child's thread");
    if (failures) {
      fprintf(stderr, "fork (child): %d of %d checks failed\n", failures, checks);
    }
    _exit(failures ? 1 : 0);
  }
  expect(child > 0, "forked");
  int status = 0;
  expect(child > 0 && waitpid(child, &status, 0) == child, "waited for the child");
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    fprintf(stderr, "fork: the child %s %d\n", WIFSIGNALED(status) ? "was killed by signal" : "exited with",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  }
  expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's checks passed, without hanging");
  expect(threads_named("mcpguard-fetch") == 1, "the parent's thread is untouched");
  mcpguard_guard_free(guard);

  if (failures) {
    fprintf(stderr, "fork: %d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("fork: %d checks passed\n", checks);
  return 0;
}
