/*
 * mcpguard quick start in C: one guard, built from examples/guard.json
 * (1MCP's security-guide example), answering a handful of requests. It
 * prints exactly what examples/rust/quickstart.rs prints
 * (examples/quickstart.expected).
 *
 * Run it with `make -C bindings/c demo`, or build it yourself:
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude \
 *      examples/c/quickstart.c -Lpath/to/lib -lmcpguard -o quickstart
 *   ./quickstart examples
 *
 * The sample tokens in examples/tokens.json were signed once with the
 * example's key; the guard runs on a manual clock pinned to
 * 2026-01-01T00:00:00Z so that the output is the same on every run. A real
 * host calls mcpguard_guard_from_file(path, ...) and keeps the system clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcpguard.h"

/* The instant the sample tokens were issued for. */
#define DEMO_TIME 1767225600.0

/* Stops the demo with the library's message when a call fails. */
static void check(mcpguard_result result, const char *what) {
  if (result != MCPGUARD_RESULT_OK) {
    fprintf(stderr, "%s failed (%d): %s\n", what, (int)result, mcpguard_last_error());
    exit(1);
  }
}

/* Reads a whole file into a NUL-terminated buffer the caller frees. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  char *text = NULL;
  long size;
  if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0 || (text = malloc((size_t)size + 1)) == NULL ||
      fread(text, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  text[size] = '\0';
  fclose(f);
  return text;
}

/*
 * "Bearer <token>" for one entry of tokens.json, a flat object of
 * name -> token strings (tokens are base64url: no escapes to decode).
 */
static char *bearer(const char *tokens_json, const char *name) {
  char quoted[64];
  const char *start, *end;
  char *header;
  snprintf(quoted, sizeof quoted, "\"%s\"", name);
  start = strstr(tokens_json, quoted);
  if (start == NULL || (start = strchr(start + strlen(quoted), ':')) == NULL ||
      (start = strchr(start, '"')) == NULL || (end = strchr(++start, '"')) == NULL) {
    fprintf(stderr, "no token %s in tokens.json\n", name);
    exit(1);
  }
  header = malloc(strlen("Bearer ") + (size_t)(end - start) + 1);
  if (header == NULL) {
    exit(1);
  }
  sprintf(header, "Bearer %.*s", (int)(end - start), start);
  return header;
}

/* A request with an Authorization header and nothing else. */
static mcpguard_request with_token(const char *authorization) {
  mcpguard_request request = MCPGUARD_REQUEST_INIT;
  request.authorization = authorization;
  request.authorization_len = strlen(authorization);
  return request;
}

static void set_server(mcpguard_request *request, const char *server) {
  request->server = server;
  request->server_len = strlen(server);
}

static void set_filter(mcpguard_request *request, uint32_t kind, const char *text) {
  request->filter_kind = kind;
  request->filter = text;
  request->filter_len = strlen(text);
}

#define STR(s) (int)(s).len, (s).data

/* Authorizes one request and prints the decision the same way in every language. */
static void show(const mcpguard_guard *guard, int n, const char *title,
                 const mcpguard_request *request) {
  mcpguard_decision *d = NULL;
  bool allowed;
  uint16_t status;
  size_t count, i;
  mcpguard_str error, reason, description, name, value;

  check(mcpguard_guard_authorize(guard, request, &d), "authorize");
  check(mcpguard_decision_allowed(d, &allowed), "allowed");
  check(mcpguard_decision_status(d, &status), "status");
  check(mcpguard_decision_error(d, &error), "error");
  check(mcpguard_decision_reason(d, &reason), "reason");
  check(mcpguard_decision_description(d, &description), "description");

  printf("[%d] %s\n", n, title);
  if (allowed) {
    printf("    %u allowed\n", (unsigned)status);
  } else {
    printf("    %u %.*s (%.*s): %.*s\n", (unsigned)status, STR(error), STR(reason),
           STR(description));
  }
  if (allowed) {
    check(mcpguard_decision_visible_server_count(d, &count), "visible server count");
    printf("    visible: ");
    for (i = 0; i < count; i++) {
      check(mcpguard_decision_visible_server(d, i, &name), "visible server");
      printf("%s%.*s", i > 0 ? ", " : "", STR(name));
    }
    printf("\n");
  }
  check(mcpguard_decision_header_count(d, &count), "header count");
  for (i = 0; i < count; i++) {
    check(mcpguard_decision_header(d, i, &name, &value), "header");
    printf("    %.*s: %.*s\n", STR(name), STR(value));
  }
  mcpguard_decision_free(d);
}

int main(int argc, char **argv) {
  const char *examples = argc > 1 ? argv[1] : "examples";
  char path[4096];
  char *tokens, *developer, *analyst, *demo, *expired, *wrong_audience, *metadata;
  mcpguard_manual_clock *clock = NULL;
  mcpguard_guard *guard = NULL;
  mcpguard_str metadata_path;
  mcpguard_request request;
  int i, admitted = 0;

  check(mcpguard_manual_clock_new(DEMO_TIME, &clock), "manual clock");
  snprintf(path, sizeof path, "%s/guard.json", examples);
  check(mcpguard_guard_from_file_with_clock(path, strlen(path), clock, &guard), "guard");

  snprintf(path, sizeof path, "%s/tokens.json", examples);
  tokens = read_file(path);
  developer = bearer(tokens, "developer");
  analyst = bearer(tokens, "analyst");
  demo = bearer(tokens, "demo");
  expired = bearer(tokens, "expired");
  wrong_audience = bearer(tokens, "wrong_audience");

  printf("mcpguard quickstart: examples/guard.json, clock at 2026-01-01T00:00:00Z\n");
  check(mcpguard_guard_metadata_path(guard, &metadata_path), "metadata path");
  check(mcpguard_guard_metadata_document(guard, &metadata), "metadata document");
  printf("metadata: %.*s -> %s\n", STR(metadata_path), metadata);
  mcpguard_string_free(metadata);

  request = with_token(developer);
  show(guard, 1, "developer lists servers", &request);

  request = with_token(analyst);
  set_filter(&request, MCPGUARD_FILTER_KIND_TAGS, "web");
  show(guard, 2, "analyst lists servers tagged web", &request);

  request = with_token(developer);
  set_filter(&request, MCPGUARD_FILTER_KIND_PRESET, "local");
  show(guard, 3, "developer uses the 'local' preset", &request);

  request = with_token(demo);
  set_server(&request, "database");
  show(guard, 4, "demo calls the database server", &request);

  request = with_token(demo);
  set_filter(&request, MCPGUARD_FILTER_KIND_TAG_FILTER, "web and database");
  show(guard, 5, "demo filters on a tag it was not granted", &request);

  request = with_token(developer);
  set_server(&request, "filesystem");
  request.tool = "write_file";
  request.tool_len = strlen(request.tool);
  show(guard, 6, "developer calls filesystem/write_file", &request);

  {
    mcpguard_request empty = MCPGUARD_REQUEST_INIT;
    show(guard, 7, "no token", &empty);
  }

  request = with_token(expired);
  show(guard, 8, "expired token", &request);

  request = with_token(wrong_audience);
  show(guard, 9, "token for another resource", &request);

  /* A burst from the demo client: 100 requests per 15 minutes. */
  request = with_token(demo);
  set_server(&request, "web-search");
  for (i = 0; i < 100; i++) {
    mcpguard_decision *d = NULL;
    bool allowed = false;
    check(mcpguard_guard_authorize(guard, &request, &d), "authorize");
    check(mcpguard_decision_allowed(d, &allowed), "allowed");
    admitted += allowed;
    mcpguard_decision_free(d);
  }
  printf("[10] demo sends a burst of 100 requests to web-search: %d allowed\n", admitted);
  show(guard, 11, "demo sends one more", &request);

  free(developer);
  free(analyst);
  free(demo);
  free(expired);
  free(wrong_audience);
  free(tokens);
  mcpguard_guard_free(guard);
  mcpguard_manual_clock_free(clock);
  return 0;
}
