/*
 * mcpguard in a C gateway: the HTTP entry point (mcpguard_guard_authorize_http)
 * in front of an MCP application, as a reverse proxy or a server module
 * uses it. The gateway hands over what its HTTP server parsed — method,
 * path, raw query, every header as bytes, the peer, the body — and does
 * what the decision says:
 *
 *   RESPOND  send mcpguard's response as it is (the metadata document, or a
 *            refusal with its status, headers and JSON body);
 *   FORWARD  let the application answer, add the decision's headers (the
 *            rate limits) and, when the request asked for a listing
 *            (tools/list, ...), send the application's body only through
 *            mcpguard_http_decision_filter_response;
 *   PASS     let the application answer untouched (a CORS preflight).
 *
 * The gateway decides nothing itself: no header rules, no body parsing, no
 * error mapping. Everything is the core's, so it answers exactly as the
 * Rust, Python (ASGI) and Node (Express) middlewares do.
 *
 * Run it with `make -C bindings/c test` (it is compared with
 * examples/c/gateway.expected), or build it yourself:
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude \
 *      examples/c/gateway.c -Lpath/to/lib -lmcpguard -o gateway
 *   ./gateway examples
 *
 * The guard runs on a manual clock pinned to the sample tokens' time, so
 * the output is the same on every run; a real gateway builds it with
 * mcpguard_guard_from_file(path, ...) on the system clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcpguard.h"

#define DEMO_TIME 1767225600.0
#define STR(s) (int)(s).len, (s).data

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

/* "Bearer <token>" for one entry of tokens.json, a flat object of
   name -> token strings (tokens are base64url: no escapes to decode). */
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

/* ---- What the gateway's HTTP server hands over (already parsed). ---- */

struct incoming {
  const char *method;
  const char *path;
  const char *query; /* raw, without '?' */
  const char *authorization; /* NULL: no such header */
  const char *body;          /* NULL: no body */
};

/* ---- The application behind the gateway: a tiny MCP server. ---- */

struct app_response {
  int status;
  const char *content_type;
  const char *body;
};

/* Answers by what the body asks; `subject` is who mcpguard says is calling. */
static struct app_response application(const struct incoming *req, mcpguard_str subject) {
  struct app_response r = {200, "application/json", "{}"};
  if (req->body != NULL && strstr(req->body, "\"tools/list\"") != NULL) {
    r.body = "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":["
             "{\"name\":\"read_file\",\"inputSchema\":{\"type\":\"object\"}},"
             "{\"name\":\"write_file\",\"inputSchema\":{\"type\":\"object\"}}]}}";
  } else if (req->body != NULL) {
    r.body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":"
             "[{\"type\":\"text\",\"text\":\"hello\"}]}}";
  }
  printf("    application: %s %s for %.*s\n", req->method, req->path, STR(subject));
  return r;
}

/* ---- The gateway. ---- */

/* Sends (here: prints) a response line, a header, the body. */
static void send_status(int status, const char *by) { printf("    -> %d (%s)\n", status, by); }
static void send_header(int name_len, const char *name, int value_len, const char *value) {
  printf("    %.*s: %.*s\n", name_len, name, value_len, value);
}
static void send_body(size_t len, const void *data) {
  printf("    %.*s\n", (int)len, (const char *)data);
}

/* Sends the headers the decision carries (a whole response's, or those to
   add to the application's). */
static void send_decision_headers(const mcpguard_http_decision *d) {
  size_t count, i;
  mcpguard_str name, value;
  check(mcpguard_http_decision_header_count(d, &count), "header count");
  for (i = 0; i < count; i++) {
    check(mcpguard_http_decision_header(d, i, &name, &value), "header");
    send_header(STR(name), STR(value));
  }
}

/* The application's answer, with the decision's headers added; a listing
   goes out only filtered (or as mcpguard's 502 when it cannot be read). */
static void forward(const mcpguard_http_decision *d, const struct incoming *req) {
  mcpguard_decision *inner = NULL;
  mcpguard_principal *principal = NULL;
  mcpguard_http_response *filtered = NULL;
  mcpguard_str subject = {"", 0};
  mcpguard_bytes body;
  struct app_response app;
  bool filters;
  uint16_t status;
  size_t count, i;
  char length[32];

  /* The principal, for the application to know who calls. */
  check(mcpguard_http_decision_decision(d, &inner), "decision");
  check(mcpguard_decision_principal(inner, &principal), "principal");
  if (principal != NULL) {
    check(mcpguard_principal_subject(principal, &subject), "subject");
  }
  app = application(req, subject);

  body.data = (const uint8_t *)app.body;
  body.len = strlen(app.body);
  status = 0;
  check(mcpguard_http_decision_filters_response(d, &filters), "filters_response");
  if (filters) {
    /* Buffer the application's answer and send only what the filter returns. */
    check(mcpguard_http_decision_filter_response(d, app.content_type, strlen(app.content_type),
                                                 body.data, body.len, &filtered),
          "filter_response");
    check(mcpguard_http_response_status(filtered, &status), "response status");
    check(mcpguard_http_response_body(filtered, &body), "response body");
  }
  if (status != 0) {
    /* Not readable: mcpguard's response (502) replaces the application's. */
    send_status(status, "mcpguard, listing not readable");
    check(mcpguard_http_response_header_count(filtered, &count), "response header count");
    for (i = 0; i < count; i++) {
      mcpguard_str name, value;
      check(mcpguard_http_response_header(filtered, i, &name, &value), "response header");
      send_header(STR(name), STR(value));
    }
  } else {
    /* The application's status and type, the (filtered) body's length,
       and the decision's headers. */
    send_status(app.status, filters ? "application, listing filtered" : "application");
    snprintf(length, sizeof length, "%zu", body.len);
    send_header(12, "Content-Type", (int)strlen(app.content_type), app.content_type);
    send_header(14, "Content-Length", (int)strlen(length), length);
    send_decision_headers(d);
  }
  send_body(body.len, body.data);
  mcpguard_http_response_free(filtered);
  mcpguard_principal_free(principal);
  mcpguard_decision_free(inner);
}

/* One request through the gateway. */
static void serve(const mcpguard_guard *guard, const mcpguard_http_options *options, int n,
                  const struct incoming *req) {
  mcpguard_http_header headers[2];
  mcpguard_http_request request = MCPGUARD_HTTP_REQUEST_INIT;
  mcpguard_http_decision *d = NULL;
  mcpguard_http_action action;
  mcpguard_bytes body;
  uint16_t status;
  static const char accept[] = "application/json, text/event-stream";

  headers[0].name = (const uint8_t *)"Accept";
  headers[0].name_len = 6;
  headers[0].value = (const uint8_t *)accept;
  headers[0].value_len = strlen(accept);
  request.header_count = 1;
  if (req->authorization != NULL) {
    headers[1].name = (const uint8_t *)"Authorization";
    headers[1].name_len = 13;
    headers[1].value = (const uint8_t *)req->authorization;
    headers[1].value_len = strlen(req->authorization);
    request.header_count = 2;
  }
  request.method = req->method;
  request.method_len = strlen(req->method);
  request.path = req->path;
  request.path_len = strlen(req->path);
  request.query = req->query;
  request.query_len = req->query != NULL ? strlen(req->query) : 0;
  request.headers = headers;
  request.peer = "203.0.113.7";
  request.peer_len = strlen(request.peer);
  if (req->body != NULL) {
    request.body_state = MCPGUARD_HTTP_BODY_BYTES;
    request.body = (const uint8_t *)req->body;
    request.body_len = strlen(req->body);
  }

  printf("[%d] %s %s%s%s%s\n", n, req->method, req->path, req->query != NULL ? "?" : "",
         req->query != NULL ? req->query : "", req->authorization != NULL ? " (token)" : "");
  check(mcpguard_guard_authorize_http(guard, options, &request, &d), "authorize_http");
  check(mcpguard_http_decision_action(d, &action), "action");
  switch (action) {
  case MCPGUARD_HTTP_ACTION_RESPOND:
    check(mcpguard_http_decision_status(d, &status), "status");
    check(mcpguard_http_decision_body(d, &body), "body");
    send_status(status, "mcpguard");
    send_decision_headers(d);
    send_body(body.len, body.data);
    break;
  case MCPGUARD_HTTP_ACTION_FORWARD:
    forward(d, req);
    break;
  default: /* MCPGUARD_HTTP_ACTION_PASS */
    printf("    passed to the application untouched\n");
    break;
  }
  mcpguard_http_decision_free(d);
}

int main(int argc, char **argv) {
  const char *examples = argc > 1 ? argv[1] : "examples";
  static const char options_json[] = "{\"server\": \"filesystem\"}";
  char path[4096];
  char *tokens, *developer;
  mcpguard_manual_clock *clock = NULL;
  mcpguard_guard *guard = NULL;
  mcpguard_http_options *options = NULL;
  int n = 0;

  check(mcpguard_manual_clock_new(DEMO_TIME, &clock), "manual clock");
  snprintf(path, sizeof path, "%s/guard.json", examples);
  check(mcpguard_guard_from_file_with_clock(path, strlen(path), clock, &guard), "guard");
  /* One endpoint, /mcp, serving the filesystem server: bodies are read for
     the tools they call and the listings they ask for. */
  check(mcpguard_http_options_new(options_json, strlen(options_json), &options), "options");
  snprintf(path, sizeof path, "%s/tokens.json", examples);
  tokens = read_file(path);
  developer = bearer(tokens, "developer");

  printf("mcpguard gateway: examples/guard.json, endpoint /mcp for filesystem\n");
  {
    const struct incoming requests[] = {
        /* The RFC 9728 metadata route: served by mcpguard. */
        {"GET", "/.well-known/oauth-protected-resource/mcp", NULL, NULL, NULL},
        /* No token: 401 with the challenge that names the metadata. */
        {"POST", "/mcp", NULL, NULL,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
         "\"params\":{\"name\":\"read_file\",\"arguments\":{}}}"},
        /* A tool the developer may call: forwarded, rate limits added. */
        {"POST", "/mcp", NULL, developer,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
         "\"params\":{\"name\":\"read_file\",\"arguments\":{}}}"},
        /* A tool that needs tag:files-write: 403. */
        {"POST", "/mcp", NULL, developer,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
         "\"params\":{\"name\":\"write_file\",\"arguments\":{}}}"},
        /* The same call hidden behind a body the guard cannot read: 400,
           never forwarded unchecked. */
        {"POST", "/mcp", NULL, developer,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
         "\"params\":{\"name\":\"write_file\",\"arguments\":{},\"_meta\":{\"x\":NaN}}}"},
        /* The listing: write_file is filtered out of the application's answer. */
        {"POST", "/mcp", NULL, developer, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}"},
        /* Two of 1MCP's query filters at once: 400, whichever stack. */
        {"GET", "/mcp", "tags=files&preset=local", developer, NULL},
        /* One: the developer may see filesystem through the 'local' preset. */
        {"GET", "/mcp", "preset=local", developer, NULL},
    };
    size_t i;
    for (i = 0; i < sizeof requests / sizeof requests[0]; i++) {
      serve(guard, options, ++n, &requests[i]);
    }
  }

  free(developer);
  free(tokens);
  mcpguard_http_options_free(options);
  mcpguard_guard_free(guard);
  mcpguard_manual_clock_free(clock);
  return 0;
}
