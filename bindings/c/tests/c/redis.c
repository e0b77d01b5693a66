/*
 * A C gateway on the Redis store, run by `make -C bindings/c test` under
 * valgrind (shared library) and ASan + UBSan (static library). It starts
 * its own redis-server on a free port (with `--timeout 1`: Redis closes a
 * client idle for a second) and stops it at the end.
 *
 * 1. Signals. A gateway's own signal handler, installed without
 *    SA_RESTART (as Python installs its handlers), runs on the thread that
 *    waits on Redis every 5 ms while Redis is held by `DEBUG SLEEP`. Linux
 *    interrupts a socket read that has a timeout even under SA_RESTART; the
 *    store holds signals off around its round trips, so the decision is
 *    allowed and no store error is counted.
 * 2. Idle connections. After the pooled connection sat idle past Redis's
 *    timeout, Redis has closed it; the next decision is allowed on a new
 *    connection, counted as a reconnect, not as an error.
 * 3. Awaited decisions (`mcpguard_guard_authorize_http_async`), as a
 *    gateway on an event loop makes them: 40 requests in flight against a
 *    limit of 30 admit exactly 30, each answer delivered once to `done`;
 *    while Redis sleeps the call returns at once and the answer comes
 *    later; a call refused for its arguments never calls `done`.
 *
 * Prints one line and exits 0 when every check passes, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcpguard.h"

#include "check.h"

static void pause_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0) {
  }
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A TCP port nobody listens on (the kernel's choice for port 0). */
static int free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t n = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &n) != 0) {
    return -1;
  }
  close(s);
  return ntohs(a.sin_port);
}

/* A connection to the test's redis-server, or -1. */
static int connect_to(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
    return s;
  }
  if (s >= 0) {
    close(s);
  }
  return -1;
}

/* Starts redis-server on `port`; its pid, or -1 when it never answered. */
static pid_t start_redis(int port) {
  char port_text[16];
  snprintf(port_text, sizeof port_text, "%d", port);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, STDOUT_FILENO);
    }
    execlp("redis-server", "redis-server", "--port", port_text, "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--enable-debug-command", "yes", "--timeout", "1", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; pid > 0 && i < 500; i++) {
    int s = connect_to(port);
    if (s >= 0) {
      close(s);
      return pid;
    }
    pause_ms(10);
  }
  return -1;
}

static int redis_port;

/* Holds redis-server for 500 ms from a connection of its own (the
   command written out in RESP by hand: a test's fixed bytes). */
static void *slow_down(void *unused) {
  static const char cmd[] = "*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$3\r\n0.5\r\n";
  char reply[64];
  (void)unused;
  int s = connect_to(redis_port);
  if (s >= 0) {
    if (write(s, cmd, sizeof cmd - 1) == (ssize_t)(sizeof cmd - 1)) {
      (void)read(s, reply, sizeof reply);
    }
    close(s);
  }
  return NULL;
}

static volatile sig_atomic_t handled = 0;

static void on_signal(int sig) {
  (void)sig;
  handled++;
}

struct pelter {
  pthread_t target;
  volatile int stop;
  int sent;
};

/* Sends SIGUSR1 to the waiting thread every 5 ms until told to stop. */
static void *pelt(void *arg) {
  struct pelter *p = arg;
  while (!p->stop) {
    pthread_kill(p->target, SIGUSR1);
    p->sent++;
    pause_ms(5);
  }
  return NULL;
}

/* One decision for the bearer token: whether it was allowed. */
static int allowed(const mcpguard_guard *guard, const char *bearer) {
  mcpguard_request request = MCPGUARD_REQUEST_INIT;
  mcpguard_decision *decision = NULL;
  bool ok = false;
  request.authorization = bearer;
  request.authorization_len = strlen(bearer);
  if (mcpguard_guard_authorize(guard, &request, &decision) != MCPGUARD_RESULT_OK) {
    return 0;
  }
  if (mcpguard_decision_allowed(decision, &ok) != MCPGUARD_RESULT_OK) {
    ok = false;
  }
  mcpguard_decision_free(decision);
  return ok;
}

/* The value of counter `name` in the guard's Prometheus text, or -1. */
static long counter(const mcpguard_guard *guard, const char *name) {
  char *text = NULL;
  long value = -1;
  if (mcpguard_guard_metrics_text(guard, &text) != MCPGUARD_RESULT_OK) {
    return -1;
  }
  size_t n = strlen(name);
  for (const char *line = text; line != NULL && *line != '\0';) {
    if (strncmp(line, name, n) == 0 && line[n] == ' ') {
      value = strtol(line + n + 1, NULL, 10);
      break;
    }
    line = strchr(line, '\n');
    line = line == NULL ? NULL : line + 1;
  }
  mcpguard_string_free(text);
  return value;
}

/* What the `done` callbacks of awaited decisions report, under a lock. */
struct answers {
  pthread_mutex_t lock;
  pthread_cond_t arrived;
  int count;
  int forwarded;
  int limited;
  int failed;
  double last_at;
};

static struct answers answers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0};

/* The `done` of every awaited decision here: reads the decision, frees it
   and counts it (a gateway would hand it to its event loop instead). */
static void on_done(void *user_data, mcpguard_http_decision *decision) {
  struct answers *a = user_data;
  mcpguard_http_action action = MCPGUARD_HTTP_ACTION_PASS;
  uint16_t status = 0;
  int forwarded = 0, limited = 0;
  if (decision != NULL && mcpguard_http_decision_action(decision, &action) == MCPGUARD_RESULT_OK) {
    forwarded = action == MCPGUARD_HTTP_ACTION_FORWARD;
    limited = action == MCPGUARD_HTTP_ACTION_RESPOND &&
              mcpguard_http_decision_status(decision, &status) == MCPGUARD_RESULT_OK && status == 429;
  }
  mcpguard_http_decision_free(decision);
  pthread_mutex_lock(&a->lock);
  a->count++;
  a->forwarded += forwarded;
  a->limited += limited;
  a->failed += decision == NULL;
  a->last_at = now_s();
  pthread_cond_broadcast(&a->arrived);
  pthread_mutex_unlock(&a->lock);
}

/* Waits up to ten seconds for `n` answers in all; how many arrived. */
static int wait_for_answers(int n) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock(&answers.lock);
  while (answers.count < n &&
         pthread_cond_timedwait(&answers.arrived, &answers.lock, &deadline) == 0) {
  }
  int got = answers.count;
  pthread_mutex_unlock(&answers.lock);
  return got;
}

/* Starts one awaited decision of `GET /mcp` with `authorization`. */
static mcpguard_result begin(const mcpguard_guard *guard, const mcpguard_http_options *options,
                             const char *authorization, mcpguard_http_done done) {
  mcpguard_http_header header = {(const uint8_t *)"Authorization", 13,
                                 (const uint8_t *)authorization, strlen(authorization)};
  mcpguard_http_request request = MCPGUARD_HTTP_REQUEST_INIT;
  request.method = "GET";
  request.method_len = 3;
  request.path = "/mcp";
  request.path_len = 4;
  request.headers = &header;
  request.header_count = 1;
  return mcpguard_guard_authorize_http_async(guard, options, &request, done, &answers);
}

/* 3. Awaited decisions on their own guard (a budget of 30). */
static void awaited_decisions(void) {
  static const char bearer[] = "Bearer opq-c-async-7Lm20";
  static const char entry[] = "{\"subject\": \"bob\", \"scopes\": [\"tag:files\"]}";
  static const char options_json[] = "{\"read_body\": false}";
  char config[512];
  mcpguard_guard *guard = NULL;
  mcpguard_http_options *options = NULL;
  snprintf(config, sizeof config,
           "{\"resource\": \"https://mcp.example.com/mcp\", \"auth\": {\"issuers\": [], \"opaque_tokens\": true},"
           " \"rate_limit\": {\"limit\": 30, \"window_seconds\": 3600},"
           " \"store\": {\"redis\": {\"url\": \"redis://127.0.0.1:%d\", \"prefix\": \"c-async:\","
           " \"timeout_ms\": 3000, \"on_error\": \"fail_closed\"}}}",
           redis_port);
  if (mcpguard_guard_new(config, strlen(config), &guard) != MCPGUARD_RESULT_OK ||
      mcpguard_http_options_new(options_json, strlen(options_json), &options) != MCPGUARD_RESULT_OK ||
      mcpguard_guard_insert_opaque(guard, bearer + 7, strlen(bearer + 7), entry, strlen(entry)) !=
          MCPGUARD_RESULT_OK) {
    expect(0, "awaited decisions: setup");
    mcpguard_http_options_free(options);
    mcpguard_guard_free(guard);
    return;
  }

  /* Refused for its arguments: an error here, and `done` never runs. */
  expect(begin(guard, options, bearer, NULL) == MCPGUARD_RESULT_NULL_PARAMETER,
         "no done: refused");
  expect(mcpguard_guard_authorize_http_async(NULL, options, NULL, on_done, &answers) ==
             MCPGUARD_RESULT_NULL_PARAMETER,
         "no guard: refused");

  /* 40 in flight against 30. */
  int started = 0;
  for (int i = 0; i < 40; i++) {
    started += begin(guard, options, bearer, on_done) == MCPGUARD_RESULT_OK;
  }
  expect(started == 40, "40 awaited decisions started");
  expect(wait_for_answers(40) == 40, "every awaited decision answered");
  pause_ms(100); /* an answer delivered twice would show here */
  pthread_mutex_lock(&answers.lock);
  expect(answers.count == 40, "each answered exactly once");
  expect(answers.forwarded == 30 && answers.limited == 10,
         "exactly the budget admitted, the rest 429");
  expect(answers.failed == 0, "no decision failed");
  pthread_mutex_unlock(&answers.lock);

  /* While Redis sleeps, the call returns at once; the answer comes later. */
  pthread_t sleeper;
  pthread_create(&sleeper, NULL, slow_down, NULL);
  pause_ms(200);
  double start = now_s();
  expect(begin(guard, options, bearer, on_done) == MCPGUARD_RESULT_OK, "awaited while Redis sleeps");
  double returned = now_s() - start;
  expect(wait_for_answers(41) == 41, "the answer arrived after Redis woke");
  pthread_mutex_lock(&answers.lock);
  double answered = answers.last_at - start;
  pthread_mutex_unlock(&answers.lock);
  pthread_join(sleeper, NULL);
  expect(returned < 0.1, "the call did not wait on Redis");
  expect(answered >= 0.15, "the answer waited on Redis, on a thread of mcpguard's own");

  mcpguard_http_options_free(options);
  mcpguard_guard_free(guard);
}

int main(void) {
  static const char bearer[] = "Bearer opq-c-redis-Wq81x";
  static const char entry[] = "{\"subject\": \"alice\", \"scopes\": [\"tag:files\"]}";
  char config[512];
  mcpguard_guard *guard = NULL;

  redis_port = free_port();
  pid_t redis = redis_port > 0 ? start_redis(redis_port) : -1;
  if (redis < 0) {
    fprintf(stderr, "redis-server did not start: `make test` installs Debian's package\n");
    return 1;
  }
  snprintf(config, sizeof config,
           "{\"resource\": \"https://mcp.example.com/mcp\", \"auth\": {\"issuers\": [], \"opaque_tokens\": true},"
           " \"rate_limit\": {\"limit\": 1000, \"window_seconds\": 3600},"
           " \"store\": {\"redis\": {\"url\": \"redis://127.0.0.1:%d\", \"prefix\": \"c-test:\","
           " \"timeout_ms\": 3000, \"on_error\": \"fail_closed\"}}}",
           redis_port);
  if (mcpguard_guard_new(config, strlen(config), &guard) != MCPGUARD_RESULT_OK ||
      mcpguard_guard_insert_opaque(guard, bearer + 7, strlen(bearer + 7), entry, strlen(entry)) !=
          MCPGUARD_RESULT_OK) {
    fprintf(stderr, "setup failed: %s\n", mcpguard_last_error());
    mcpguard_guard_free(guard);
    kill(redis, SIGTERM);
    waitpid(redis, NULL, 0);
    return 1;
  }
  expect(allowed(guard, bearer), "a stored token is authorized through Redis");

  /* 1. Signals while the decision waits on a slowed Redis. */
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0; /* no SA_RESTART */
  sigaction(SIGUSR1, &action, NULL);
  pthread_t sleeper, pelter_thread;
  struct pelter p = {pthread_self(), 0, 0};
  pthread_create(&sleeper, NULL, slow_down, NULL);
  pause_ms(200); /* the sleep has begun, even under valgrind */
  pthread_create(&pelter_thread, NULL, pelt, &p);
  double start = now_s();
  int ok = allowed(guard, bearer);
  double took = now_s() - start;
  p.stop = 1;
  pthread_join(pelter_thread, NULL);
  pthread_join(sleeper, NULL);
  expect(ok, "a decision waiting on Redis while signals arrive is allowed");
  expect(took >= 0.15, "the decision waited on the slowed Redis");
  expect(p.sent >= 10, "signals were sent while it waited");
  expect(handled > 0, "the gateway's handler still ran");
  expect(counter(guard, "mcpguard_store_errors_total") == 0, "no store error was counted");
  expect(allowed(guard, bearer), "the next decision is allowed too (no breaker opened)");

  /* 2. An idle connection Redis closed. */
  long before = counter(guard, "mcpguard_store_reconnects_total");
  pause_ms(2500);
  expect(allowed(guard, bearer), "the first decision after Redis closed the idle connection");
  expect(counter(guard, "mcpguard_store_errors_total") == 0, "still no store error");
  expect(counter(guard, "mcpguard_store_reconnects_total") > before,
         "the closed connection was replaced, counted as a reconnect");

  mcpguard_guard_free(guard);

  /* 3. Awaited decisions. */
  awaited_decisions();

  kill(redis, SIGTERM);
  waitpid(redis, NULL, 0);
  printf("redis: %d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
