/*
 * Several threads authorizing on one guard at the same time: the guard is
 * shared (const mcpguard_guard *), each decision belongs to the thread that
 * asked for it, and the audit callback runs on every authorizing thread.
 *
 * The demo client's budget is 100 requests per 15 minutes, shared by every
 * thread: exactly 100 requests pass, whatever the interleaving.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcpguard.h"

#define THREADS 4
#define REQUESTS_PER_THREAD 100
#define BUDGET 100

/* The "demo" token of examples/tokens.json (role demo: tag web). */
static char authorization[2048];

struct worker {
  const mcpguard_guard *guard;
  int allowed;
  int failed;
};

static atomic_long audit_events;

/* Called on whichever thread authorizes: it only touches an atomic. */
static void count_event(const mcpguard_audit_event *event, void *user_data) {
  mcpguard_str kind;
  (void)user_data;
  if (mcpguard_audit_event_kind(event, &kind) == MCPGUARD_RESULT_OK && kind.len > 0) {
    atomic_fetch_add(&audit_events, 1);
  }
}

static void *work(void *arg) {
  struct worker *w = arg;
  mcpguard_request request = MCPGUARD_REQUEST_INIT;
  int i;
  request.authorization = authorization;
  request.authorization_len = strlen(authorization);
  request.server = "web-search";
  request.server_len = strlen(request.server);
  for (i = 0; i < REQUESTS_PER_THREAD; i++) {
    mcpguard_decision *d = NULL;
    bool allowed = false;
    uint16_t status = 0;
    if (mcpguard_guard_authorize(w->guard, &request, &d) != MCPGUARD_RESULT_OK ||
        mcpguard_decision_allowed(d, &allowed) != MCPGUARD_RESULT_OK ||
        mcpguard_decision_status(d, &status) != MCPGUARD_RESULT_OK ||
        (allowed ? status != 200 : status != 429)) {
      w->failed++;
    }
    w->allowed += allowed;
    mcpguard_decision_free(d);
  }
  return NULL;
}

static int load_token(const char *examples) {
  char path[4096], text[16384];
  const char *start, *end;
  size_t n;
  FILE *f;
  snprintf(path, sizeof path, "%s/tokens.json", examples);
  if ((f = fopen(path, "rb")) == NULL) {
    return 0;
  }
  n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  if ((start = strstr(text, "\"demo\"")) == NULL || (start = strchr(start + 6, '"')) == NULL ||
      (end = strchr(++start, '"')) == NULL ||
      (size_t)(end - start) + 8 > sizeof authorization) {
    return 0;
  }
  snprintf(authorization, sizeof authorization, "Bearer %.*s", (int)(end - start), start);
  return 1;
}

int main(int argc, char **argv) {
  const char *examples = argc > 1 ? argv[1] : "examples";
  char path[4096];
  mcpguard_manual_clock *clock = NULL;
  mcpguard_guard *guard = NULL;
  mcpguard_counters counters;
  mcpguard_str version;
  pthread_t threads[THREADS];
  struct worker workers[THREADS];
  int i, allowed = 0, failed = 0;
  long expected_events;

  if (mcpguard_version(&version) != MCPGUARD_RESULT_OK ||
      version.len != strlen(MCPGUARD_VERSION) ||
      memcmp(version.data, MCPGUARD_VERSION, version.len) != 0) {
    fprintf(stderr, "header version %s does not match the library\n", MCPGUARD_VERSION);
    return 1;
  }
  snprintf(path, sizeof path, "%s/guard.json", examples);
  if (!load_token(examples) || mcpguard_manual_clock_new(1767225600.0, &clock) != 0 ||
      mcpguard_guard_from_file_with_clock(path, strlen(path), clock, &guard) != 0 ||
      mcpguard_guard_set_audit_callback(guard, count_event, NULL) != 0) {
    fprintf(stderr, "setup failed: %s\n", mcpguard_last_error());
    return 1;
  }

  for (i = 0; i < THREADS; i++) {
    workers[i].guard = guard;
    workers[i].allowed = 0;
    workers[i].failed = 0;
    if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      return 1;
    }
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(threads[i], NULL);
    allowed += workers[i].allowed;
    failed += workers[i].failed;
  }

  /* Every request is an authentication success; a denied one is also a
     rate-limit event. */
  expected_events = (long)THREADS * REQUESTS_PER_THREAD + (THREADS * REQUESTS_PER_THREAD - BUDGET);
  if (mcpguard_guard_counters(guard, &counters) != MCPGUARD_RESULT_OK) {
    fprintf(stderr, "counters failed: %s\n", mcpguard_last_error());
    return 1;
  }
  printf("%d threads x %d requests: %d allowed, %llu denied, %ld audit events\n", THREADS,
         REQUESTS_PER_THREAD, allowed, (unsigned long long)counters.denied,
         atomic_load(&audit_events));
  mcpguard_guard_free(guard);
  mcpguard_manual_clock_free(clock);
  if (failed != 0 || allowed != BUDGET || counters.allowed != BUDGET ||
      counters.denied != THREADS * REQUESTS_PER_THREAD - BUDGET ||
      atomic_load(&audit_events) != expected_events) {
    fprintf(stderr, "unexpected results (%d calls failed)\n", failed);
    return 1;
  }
  return 0;
}
