/*
 * The HTTP entry point from C, run by `make -C bindings/c test` under
 * valgrind (shared library) and ASan + UBSan (static library): a gateway's
 * requests through mcpguard_guard_authorize_http — the metadata route, a
 * 401, a forwarded tools/call, a 400 for a body with NaN in it, a
 * tools/list whose listing is filtered (JSON and SSE) — with every object
 * freed. The guard takes opaque tokens, so the program needs no files.
 * Prints one line and exits 0 when every check passes, 1 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "mcpguard.h"

#define NOW 1767225600.0

#include "check.h"

static int same(mcpguard_str s, const char *text) {
  return s.len == strlen(text) && memcmp(s.data, text, s.len) == 0;
}

/* Whether `len` bytes at `data` contain `needle`. */
static int contains(const uint8_t *data, size_t len, const char *needle) {
  size_t n = strlen(needle), i;
  for (i = 0; n <= len && i <= len - n; i++) {
    if (memcmp(data + i, needle, n) == 0) {
      return 1;
    }
  }
  return 0;
}

/* The value of the decision's first header called `name` (exact case). */
static mcpguard_str header(const mcpguard_http_decision *d, const char *name) {
  size_t count = 0, i;
  mcpguard_str n = {NULL, 0}, v = {NULL, 0}, none = {"", 0};
  if (mcpguard_http_decision_header_count(d, &count) != MCPGUARD_RESULT_OK) {
    return none;
  }
  for (i = 0; i < count; i++) {
    if (mcpguard_http_decision_header(d, i, &n, &v) == MCPGUARD_RESULT_OK && same(n, name)) {
      return v;
    }
  }
  return none;
}

/* One request: `authorization` may be NULL, `body` NULL for none. */
static mcpguard_http_decision *decide(const mcpguard_guard *guard,
                                      const mcpguard_http_options *options, const char *method,
                                      const char *path, const char *authorization,
                                      const char *body) {
  static const char accept[] = "application/json, text/event-stream";
  mcpguard_http_header headers[2];
  mcpguard_http_request request = MCPGUARD_HTTP_REQUEST_INIT;
  mcpguard_http_decision *decision = NULL;
  size_t count = 0;
  headers[count].name = (const uint8_t *)"Accept";
  headers[count].name_len = 6;
  headers[count].value = (const uint8_t *)accept;
  headers[count].value_len = strlen(accept);
  count++;
  if (authorization != NULL) {
    headers[count].name = (const uint8_t *)"Authorization";
    headers[count].name_len = 13;
    headers[count].value = (const uint8_t *)authorization;
    headers[count].value_len = strlen(authorization);
    count++;
  }
  request.method = method;
  request.method_len = strlen(method);
  request.path = path;
  request.path_len = strlen(path);
  request.headers = headers;
  request.header_count = count;
  request.peer = "203.0.113.7";
  request.peer_len = strlen(request.peer);
  if (body != NULL) {
    request.body_state = MCPGUARD_HTTP_BODY_BYTES;
    request.body = (const uint8_t *)body;
    request.body_len = strlen(body);
  }
  expect(mcpguard_guard_authorize_http(guard, options, &request, &decision) == MCPGUARD_RESULT_OK &&
             decision != NULL,
         "authorize_http");
  return decision;
}

static void expect_action(const mcpguard_http_decision *d, mcpguard_http_action want,
                          uint16_t status, const char *what) {
  mcpguard_http_action action = MCPGUARD_HTTP_ACTION_PASS;
  uint16_t s = 1;
  expect(mcpguard_http_decision_action(d, &action) == MCPGUARD_RESULT_OK && action == want, what);
  expect(mcpguard_http_decision_status(d, &s) == MCPGUARD_RESULT_OK && s == status, what);
}

static void metadata_route(const mcpguard_guard *guard, const mcpguard_http_options *options) {
  mcpguard_http_decision *d =
      decide(guard, options, "GET", "/.well-known/oauth-protected-resource/mcp", NULL, NULL);
  mcpguard_decision *inner = (mcpguard_decision *)&inner; /* not NULL, so the reset shows */
  mcpguard_bytes body = {NULL, 0};
  char *document = NULL;
  if (d == NULL) {
    return;
  }
  expect_action(d, MCPGUARD_HTTP_ACTION_RESPOND, 200, "metadata: 200");
  expect(same(header(d, "Content-Type"), "application/json"), "metadata: JSON");
  expect(same(header(d, "Access-Control-Allow-Origin"), "*"), "metadata: CORS");
  expect(mcpguard_http_decision_body(d, &body) == MCPGUARD_RESULT_OK &&
             mcpguard_guard_metadata_document(guard, &document) == MCPGUARD_RESULT_OK &&
             body.len == strlen(document) && memcmp(body.data, document, body.len) == 0,
         "metadata: the guard's document");
  expect(mcpguard_http_decision_decision(d, &inner) == MCPGUARD_RESULT_OK && inner == NULL,
         "metadata: no Guard decision");
  mcpguard_string_free(document);
  mcpguard_http_decision_free(d);
}

static const char call_read[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
    "\"params\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"/tmp/a\"}}}";

static void unauthorized(const mcpguard_guard *guard, const mcpguard_http_options *options) {
  mcpguard_http_decision *d = decide(guard, options, "POST", "/mcp", NULL, call_read);
  mcpguard_bytes body = {NULL, 0};
  mcpguard_str challenge;
  bool filters = true;
  if (d == NULL) {
    return;
  }
  expect_action(d, MCPGUARD_HTTP_ACTION_RESPOND, 401, "no token: 401");
  challenge = header(d, "WWW-Authenticate");
  expect(contains((const uint8_t *)challenge.data, challenge.len,
                  "resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""),
         "no token: the challenge names the metadata");
  expect(mcpguard_http_decision_body(d, &body) == MCPGUARD_RESULT_OK &&
             contains(body.data, body.len, "\"error\""),
         "no token: a JSON body");
  expect(mcpguard_http_decision_filters_response(d, &filters) == MCPGUARD_RESULT_OK && !filters,
         "no token: nothing to filter");
  mcpguard_http_decision_free(d);
}

static void forwarded_call(const mcpguard_guard *guard, const mcpguard_http_options *options) {
  mcpguard_http_decision *d =
      decide(guard, options, "POST", "/mcp", "Bearer opq-alice-files", call_read);
  mcpguard_decision *inner = NULL;
  mcpguard_principal *principal = NULL;
  mcpguard_bytes body = {NULL, 0};
  mcpguard_str subject = {NULL, 0};
  bool allowed = false;
  size_t count = 0;
  if (d == NULL) {
    return;
  }
  expect_action(d, MCPGUARD_HTTP_ACTION_FORWARD, 0, "read_file: forwarded");
  expect(mcpguard_http_decision_body(d, &body) == MCPGUARD_RESULT_OK && body.len == 0 &&
             body.data != NULL,
         "read_file: no body of its own");
  expect(mcpguard_http_decision_header_count(d, &count) == MCPGUARD_RESULT_OK && count > 0,
         "read_file: headers to add");
  expect(same(header(d, "RateLimit-Policy"), "100;w=60"), "read_file: the rate-limit policy");
  expect(same(header(d, "RateLimit"), "limit=100, remaining=99, reset=60"),
         "read_file: one request charged");
  expect(mcpguard_http_decision_decision(d, &inner) == MCPGUARD_RESULT_OK && inner != NULL &&
             mcpguard_decision_allowed(inner, &allowed) == MCPGUARD_RESULT_OK && allowed,
         "read_file: the Guard allowed it");
  expect(mcpguard_decision_principal(inner, &principal) == MCPGUARD_RESULT_OK &&
             principal != NULL &&
             mcpguard_principal_subject(principal, &subject) == MCPGUARD_RESULT_OK &&
             same(subject, "alice"),
         "read_file: the principal for the application");
  mcpguard_principal_free(principal);
  mcpguard_decision_free(inner);
  mcpguard_http_decision_free(d);
}

static void unreadable_body(const mcpguard_guard *guard, const mcpguard_http_options *options) {
  /* write_file needs tag:files-write; a body the guard cannot read must
     never reach the application with its tool unchecked. */
  static const char nan_body[] =
      "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\","
      "\"params\":{\"name\":\"write_file\",\"arguments\":{},\"_meta\":{\"x\":NaN}}}";
  mcpguard_http_decision *d =
      decide(guard, options, "POST", "/mcp", "Bearer opq-alice-files", nan_body);
  mcpguard_bytes body = {NULL, 0};
  if (d == NULL) {
    return;
  }
  expect_action(d, MCPGUARD_HTTP_ACTION_RESPOND, 400, "NaN: 400");
  expect(mcpguard_http_decision_body(d, &body) == MCPGUARD_RESULT_OK &&
             contains(body.data, body.len, "\"error\":\"invalid_request\""),
         "NaN: invalid_request");
  expect(same(header(d, "Content-Type"), "application/json"), "NaN: a JSON body");
  mcpguard_http_decision_free(d);
}

/* Filters `app_body` of type `content_type`; expects read_file kept and
   write_file gone. */
static void expect_filtered(const mcpguard_http_decision *d, const char *content_type,
                            const char *app_body, const char *what) {
  mcpguard_http_response *response = NULL;
  mcpguard_bytes body = {NULL, 0};
  uint16_t status = 1;
  size_t count = 1;
  expect(mcpguard_http_decision_filter_response(d, content_type, strlen(content_type),
                                                (const uint8_t *)app_body, strlen(app_body),
                                                &response) == MCPGUARD_RESULT_OK,
         what);
  if (response == NULL) {
    return;
  }
  expect(mcpguard_http_response_status(response, &status) == MCPGUARD_RESULT_OK && status == 0,
         what);
  expect(mcpguard_http_response_header_count(response, &count) == MCPGUARD_RESULT_OK && count == 0,
         what);
  expect(mcpguard_http_response_body(response, &body) == MCPGUARD_RESULT_OK &&
             contains(body.data, body.len, "read_file") &&
             !contains(body.data, body.len, "write_file"),
         what);
  mcpguard_http_response_free(response);
}

static void filtered_listing(const mcpguard_guard *guard, const mcpguard_http_options *options) {
  static const char list[] = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}";
  static const char listing[] =
      "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":["
      "{\"name\":\"read_file\",\"inputSchema\":{\"type\":\"object\"}},"
      "{\"name\":\"write_file\",\"inputSchema\":{\"type\":\"object\"}}]}}";
  char sse[512];
  mcpguard_http_decision *d = decide(guard, options, "POST", "/mcp", "Bearer opq-alice-files", list);
  mcpguard_http_response *response = NULL;
  uint16_t status = 0;
  bool filters = false;
  if (d == NULL) {
    return;
  }
  expect_action(d, MCPGUARD_HTTP_ACTION_FORWARD, 0, "tools/list: forwarded");
  expect(mcpguard_http_decision_filters_response(d, &filters) == MCPGUARD_RESULT_OK && filters,
         "tools/list: the response must be filtered");
  expect_filtered(d, "application/json", listing, "tools/list: JSON filtered");
  snprintf(sse, sizeof sse, "event: message\ndata: %s\n\n", listing);
  expect_filtered(d, "text/event-stream", sse, "tools/list: SSE filtered");
  /* A listing the guard cannot read is replaced, never passed through. */
  expect(mcpguard_http_decision_filter_response(d, "application/json", 16,
                                                (const uint8_t *)"{\"jsonrpc\": oops", 16,
                                                &response) == MCPGUARD_RESULT_OK &&
             mcpguard_http_response_status(response, &status) == MCPGUARD_RESULT_OK &&
             status == 502,
         "tools/list: an unreadable listing is a 502");
  mcpguard_http_response_free(response);
  mcpguard_http_decision_free(d);
}

static void misuse(const mcpguard_guard *guard, const mcpguard_http_options *options) {
  mcpguard_http_request request = MCPGUARD_HTTP_REQUEST_INIT;
  mcpguard_http_decision *d = (mcpguard_http_decision *)&d;
  mcpguard_http_options *bad = (mcpguard_http_options *)&bad;
  static const char unknown[] = "{\"server\": \"filesystem\", \"sever\": 1}";
  expect(mcpguard_guard_authorize_http(guard, options, &request, &d) ==
                 MCPGUARD_RESULT_NULL_PARAMETER &&
             d == NULL,
         "a request without a method is refused, *out NULL");
  request.method = "GET";
  request.method_len = 3;
  request.path = "/mcp";
  request.path_len = 4;
  request.body_state = 9;
  expect(mcpguard_guard_authorize_http(guard, options, &request, &d) ==
             MCPGUARD_RESULT_INVALID_ARGUMENT,
         "a bad body_state is refused");
  expect(strcmp(mcpguard_last_error_info(), "null") == 0, "a caller's mistake is not classified");
  expect(mcpguard_http_options_new(unknown, strlen(unknown), &bad) == MCPGUARD_RESULT_CONFIG_ERROR &&
             bad == NULL,
         "unknown options are refused");
  expect(strstr(mcpguard_last_error_info(), "\"kind\":\"config\"") != NULL &&
             strstr(mcpguard_last_error_info(), "\"path\":\"sever\"") != NULL,
         "the core classified the refusal");
  mcpguard_http_decision_free(NULL);
  mcpguard_http_options_free(NULL);
  mcpguard_http_response_free(NULL);
}

int main(void) {
  static const char config[] =
      "{\"resource\": \"https://mcp.example.com/mcp\","
      " \"auth\": {\"issuers\": [], \"opaque_tokens\": true},"
      " \"servers\": {\"filesystem\": {\"tags\": [\"files\"],"
      "   \"tools\": {\"write_file\": {\"tags\": [\"files-write\"]}}}},"
      " \"rate_limit\": {\"limit\": 100, \"window_seconds\": 60}}";
  static const char options_json[] = "{\"server\": \"filesystem\"}";
  static const char entry[] =
      "{\"client_id\": \"gateway-test\", \"subject\": \"alice\", \"scopes\": [\"tag:files\"]}";
  mcpguard_manual_clock *clock = NULL;
  mcpguard_guard *guard = NULL;
  mcpguard_http_options *options = NULL;

  if (mcpguard_manual_clock_new(NOW, &clock) != MCPGUARD_RESULT_OK ||
      mcpguard_guard_new_with_clock(config, strlen(config), clock, &guard) != MCPGUARD_RESULT_OK ||
      mcpguard_http_options_new(options_json, strlen(options_json), &options) !=
          MCPGUARD_RESULT_OK ||
      mcpguard_guard_insert_opaque(guard, "opq-alice-files", 15, entry, strlen(entry)) !=
          MCPGUARD_RESULT_OK) {
    fprintf(stderr, "setup failed: %s\n", mcpguard_last_error());
    return 1;
  }
  metadata_route(guard, options);
  unauthorized(guard, options);
  forwarded_call(guard, options);
  unreadable_body(guard, options);
  filtered_listing(guard, options);
  misuse(guard, options);

  mcpguard_http_options_free(options);
  mcpguard_guard_free(guard);
  mcpguard_manual_clock_free(clock);
  if (failures != 0) {
    fprintf(stderr, "http: %d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("http: %d checks passed\n", checks);
  return 0;
}
