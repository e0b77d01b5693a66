/*
 * The authorization server from C, run by `make -C bindings/c test` under
 * valgrind (shared library) and ASan + UBSan (static library): the code
 * flow a C host serves through mcpguard_oauth_server_handle_http —
 * registration, the consent page and its form, the token exchange, the
 * guard accepting the token, a refresh, reuse of the rotated refresh token
 * (the family is revoked and the guard refuses the new token), and a
 * revocation — plus the operational calls, with every object freed. The
 * signing key is generated, so the program needs no files. Prints one line
 * and exits 0 when every check passes, 1 otherwise.
 *
 * The few values it takes from answers (a hidden input, a query parameter,
 * a JSON string member) are base64url or plain ASCII by construction, so
 * finding them by their delimiters is enough for a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcpguard.h"

#define NOW 1767225600.0
#define CALLBACK "http://127.0.0.1:8765/callback"
#define CALLBACK_FORM "http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"
#define VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

#include "check.h"

/* An answer copied out of an mcpguard_http_response (which is then freed). */
typedef struct {
  uint16_t status;
  char *body;     /* NUL-terminated copy */
  char *location; /* the Location header, or NULL */
  char *cookie;   /* the Set-Cookie header up to its first ';', or NULL */
} answer;

static char *copy(const void *data, size_t len) {
  char *s = malloc(len + 1);
  if (s == NULL) {
    abort();
  }
  memcpy(s, data, len);
  s[len] = '\0';
  return s;
}

static void answer_free(answer *a) {
  free(a->body);
  free(a->location);
  free(a->cookie);
}

static int named(mcpguard_str s, const char *name) {
  return s.len == strlen(name) && memcmp(s.data, name, s.len) == 0;
}

static answer read_answer(mcpguard_http_response *r) {
  answer a = {0, NULL, NULL, NULL};
  mcpguard_bytes body = {NULL, 0};
  mcpguard_str n, v;
  size_t count = 0, i, cut;
  if (mcpguard_http_response_status(r, &a.status) != MCPGUARD_RESULT_OK ||
      mcpguard_http_response_header_count(r, &count) != MCPGUARD_RESULT_OK ||
      mcpguard_http_response_body(r, &body) != MCPGUARD_RESULT_OK) {
    expect(0, "reading a response");
  }
  a.body = copy(body.data, body.len);
  for (i = 0; i < count; i++) {
    if (mcpguard_http_response_header(r, i, &n, &v) != MCPGUARD_RESULT_OK) {
      continue;
    }
    if (named(n, "Location") && a.location == NULL) {
      a.location = copy(v.data, v.len);
    } else if (named(n, "Set-Cookie") && a.cookie == NULL) {
      for (cut = 0; cut < v.len && v.data[cut] != ';'; cut++) {
      }
      a.cookie = copy(v.data, cut);
    }
  }
  mcpguard_http_response_free(r);
  return a;
}

/* One request to the server; `content_type`, `cookie`, `subject` may be NULL. */
static answer send(const mcpguard_oauth_server *server, const char *method, const char *path,
                   const char *query, const char *content_type, const char *cookie,
                   const char *body, const char *subject) {
  mcpguard_http_header headers[2];
  mcpguard_oauth_request request = MCPGUARD_OAUTH_REQUEST_INIT;
  mcpguard_http_response *response = NULL;
  answer none = {0, NULL, NULL, NULL};
  size_t count = 0;
  if (content_type != NULL) {
    headers[count].name = (const uint8_t *)"Content-Type";
    headers[count].name_len = 12;
    headers[count].value = (const uint8_t *)content_type;
    headers[count].value_len = strlen(content_type);
    count++;
  }
  if (cookie != NULL) {
    headers[count].name = (const uint8_t *)"Cookie";
    headers[count].name_len = 6;
    headers[count].value = (const uint8_t *)cookie;
    headers[count].value_len = strlen(cookie);
    count++;
  }
  request.method = method;
  request.method_len = strlen(method);
  request.path = path;
  request.path_len = strlen(path);
  if (query != NULL) {
    request.query = query;
    request.query_len = strlen(query);
  }
  request.headers = count > 0 ? headers : NULL;
  request.header_count = count;
  if (body != NULL) {
    request.body = (const uint8_t *)body;
    request.body_len = strlen(body);
  }
  request.peer = "10.0.0.1";
  request.peer_len = 8;
  if (subject != NULL) {
    request.subject = subject;
    request.subject_len = strlen(subject);
  }
  if (mcpguard_oauth_server_handle_http(server, &request, &response) != MCPGUARD_RESULT_OK ||
      response == NULL) {
    expect(0, path);
    return none;
  }
  return read_answer(response);
}

/* The text after `start` up to the first character of `stop`, copied; NULL if absent. */
static char *between(const char *text, const char *start, const char *stop) {
  const char *s = text == NULL ? NULL : strstr(text, start);
  if (s == NULL) {
    return NULL;
  }
  s += strlen(start);
  return copy(s, strcspn(s, stop));
}

static char *json_member(const char *json, const char *name) {
  char key[64];
  snprintf(key, sizeof key, "\"%s\":\"", name);
  return between(json, key, "\"");
}

/* The guard's HTTP action and status for a tools/list with this token. */
static void guard_answer(const mcpguard_guard *guard, const mcpguard_http_options *options,
                         const char *token, mcpguard_http_action want_action,
                         uint16_t want_status, const char *what) {
  static const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
  static const char accept[] = "application/json, text/event-stream";
  char bearer[2048];
  mcpguard_http_header headers[3];
  mcpguard_http_request request = MCPGUARD_HTTP_REQUEST_INIT;
  mcpguard_http_decision *d = NULL;
  mcpguard_http_action action = MCPGUARD_HTTP_ACTION_PASS;
  uint16_t status = 0;
  snprintf(bearer, sizeof bearer, "Bearer %s", token == NULL ? "" : token);
  headers[0].name = (const uint8_t *)"Accept";
  headers[0].name_len = 6;
  headers[0].value = (const uint8_t *)accept;
  headers[0].value_len = strlen(accept);
  headers[1].name = (const uint8_t *)"Content-Type";
  headers[1].name_len = 12;
  headers[1].value = (const uint8_t *)"application/json";
  headers[1].value_len = 16;
  headers[2].name = (const uint8_t *)"Authorization";
  headers[2].name_len = 13;
  headers[2].value = (const uint8_t *)bearer;
  headers[2].value_len = strlen(bearer);
  request.method = "POST";
  request.method_len = 4;
  request.path = "/mcp";
  request.path_len = 4;
  request.headers = headers;
  request.header_count = 3;
  request.body_state = MCPGUARD_HTTP_BODY_BYTES;
  request.body = (const uint8_t *)body;
  request.body_len = strlen(body);
  expect(mcpguard_guard_authorize_http(guard, options, &request, &d) == MCPGUARD_RESULT_OK &&
             mcpguard_http_decision_action(d, &action) == MCPGUARD_RESULT_OK &&
             mcpguard_http_decision_status(d, &status) == MCPGUARD_RESULT_OK &&
             action == want_action && status == want_status,
         what);
  mcpguard_http_decision_free(d);
}

static answer refresh(const mcpguard_oauth_server *server, const char *client,
                      const char *refresh_token) {
  char form[1024];
  snprintf(form, sizeof form, "grant_type=refresh_token&refresh_token=%s&client_id=%s",
           refresh_token == NULL ? "" : refresh_token, client == NULL ? "" : client);
  return send(server, "POST", "/token", NULL, "application/x-www-form-urlencoded", NULL, form,
              NULL);
}

static void flow(const mcpguard_guard *guard, const mcpguard_oauth_server *server,
                 const mcpguard_http_options *options) {
  char query[1024], form[2048];
  char *client, *request_id, *csrf, *code, *access1, *refresh1, *access2;
  answer reg, page, back, token, again, reused, unknown;
  mcpguard_oauth_request other = MCPGUARD_OAUTH_REQUEST_INIT;
  mcpguard_http_response *none = (mcpguard_http_response *)&other;

  reg = send(server, "POST", "/register", NULL, "application/json", NULL,
             "{\"redirect_uris\":[\"" CALLBACK "\"],\"scope\":\"tag:web tag:db\"}", NULL);
  expect(reg.status == 201, "register: 201");
  client = json_member(reg.body, "client_id");
  expect(client != NULL, "register: a client_id");

  snprintf(query, sizeof query,
           "response_type=code&client_id=%s&redirect_uri=%s"
           "&state=xyz&code_challenge=" CHALLENGE "&code_challenge_method=S256&scope=tag%%3Aweb",
           client == NULL ? "" : client, CALLBACK_FORM);
  page = send(server, "GET", "/authorize", query, NULL, NULL, NULL, NULL);
  expect(page.status == 200 && page.cookie != NULL, "authorize: the consent page and its cookie");
  request_id = between(page.body, "name=\"request_id\" value=\"", "\"");
  csrf = between(page.body, "name=\"csrf_token\" value=\"", "\"");
  expect(request_id != NULL && csrf != NULL, "consent page: the request id and CSRF token");

  snprintf(form, sizeof form, "request_id=%s&csrf_token=%s&decision=approve",
           request_id == NULL ? "" : request_id, csrf == NULL ? "" : csrf);
  back = send(server, "POST", "/authorize", NULL, "application/x-www-form-urlencoded",
              page.cookie, form, "alice");
  expect(back.status == 302, "consent: redirected back");
  expect(back.location != NULL && strncmp(back.location, CALLBACK "?", strlen(CALLBACK) + 1) == 0,
         "consent: to the registered redirect URI");
  expect(back.location != NULL && strstr(back.location, "state=xyz") != NULL, "consent: state");
  code = between(back.location, "code=", "&");

  snprintf(form, sizeof form,
           "grant_type=authorization_code&code=%s&redirect_uri=%s"
           "&client_id=%s&code_verifier=" VERIFIER,
           code == NULL ? "" : code, CALLBACK_FORM, client == NULL ? "" : client);
  token = send(server, "POST", "/token", NULL, "application/x-www-form-urlencoded", NULL, form,
               NULL);
  expect(token.status == 200, "token: 200");
  access1 = json_member(token.body, "access_token");
  refresh1 = json_member(token.body, "refresh_token");
  expect(access1 != NULL && refresh1 != NULL, "token: access and refresh tokens");
  guard_answer(guard, options, access1, MCPGUARD_HTTP_ACTION_FORWARD, 0,
               "guard: the issued token is accepted");

  answer_free(&token);
  token = refresh(server, client, refresh1);
  expect(token.status == 200, "refresh: 200");
  access2 = json_member(token.body, "access_token");
  guard_answer(guard, options, access2, MCPGUARD_HTTP_ACTION_FORWARD, 0,
               "guard: the refreshed token is accepted");

  expect(mcpguard_oauth_server_revoke(server, access1, strlen(access1), "access_token", 12,
                                      client, strlen(client), NULL, 0) == MCPGUARD_RESULT_OK,
         "revoke: the first access token");
  guard_answer(guard, options, access1, MCPGUARD_HTTP_ACTION_RESPOND, 401,
               "guard: a revoked token is refused");

  reused = refresh(server, client, refresh1);
  expect(reused.status == 400 && strstr(reused.body, "invalid_grant") != NULL,
         "refresh: a rotated token is refused");
  guard_answer(guard, options, access2, MCPGUARD_HTTP_ACTION_RESPOND, 401,
               "guard: reuse revoked the family's tokens");

  /* The code's form once more: a code works once. */
  again = send(server, "POST", "/token", NULL, "application/x-www-form-urlencoded", NULL, form,
               NULL);
  expect(again.status == 400 && strstr(again.body, "invalid_grant") != NULL,
         "token: a code works once");

  /* A path that is none of the server's endpoints is the host's. */
  other.method = "GET";
  other.method_len = 3;
  other.path = "/mcp";
  other.path_len = 4;
  expect(mcpguard_oauth_server_handle_http(server, &other, &none) == MCPGUARD_RESULT_OK &&
             none == NULL,
         "handle_http: not an endpoint, no answer");
  unknown = send(server, "GET", "/.well-known/oauth-authorization-server", NULL, NULL, NULL,
                 NULL, NULL);
  expect(unknown.status == 200 && strstr(unknown.body, "\"issuer\"") != NULL,
         "metadata: served");

  answer_free(&unknown);
  answer_free(&reused);
  answer_free(&again);
  answer_free(&token);
  answer_free(&back);
  answer_free(&page);
  answer_free(&reg);
  free(access2);
  free(refresh1);
  free(access1);
  free(code);
  free(csrf);
  free(request_id);
  free(client);
}

static void operations(const mcpguard_oauth_server *server, const mcpguard_manual_clock *clock) {
  char *metadata = NULL, *jwks = NULL;
  mcpguard_str issuer = {NULL, 0};
  size_t removed = 99;
  expect(mcpguard_oauth_server_metadata(server, &metadata) == MCPGUARD_RESULT_OK &&
             strstr(metadata, "\"token_endpoint\":\"https://auth.example.com/token\"") != NULL,
         "metadata: the token endpoint");
  expect(mcpguard_oauth_server_issuer(server, &issuer) == MCPGUARD_RESULT_OK &&
             named(issuer, "https://auth.example.com"),
         "issuer");
  expect(mcpguard_oauth_server_rotate_key(server, NULL, 0, NULL, 0) == MCPGUARD_RESULT_OK,
         "rotate: a generated key");
  expect(mcpguard_oauth_server_jwks(server, &jwks) == MCPGUARD_RESULT_OK &&
             strstr(jwks, "\"kid\"") != strrchr(jwks, '\0') &&
             strstr(strstr(jwks, "\"kid\"") + 1, "\"kid\"") != NULL,
         "jwks: both keys published after a rotation");
  expect(mcpguard_oauth_server_rotate_key(server, "not a key", 9, NULL, 0) ==
             MCPGUARD_RESULT_KEY_ERROR,
         "rotate: a key that is not PEM is refused");
  expect(mcpguard_manual_clock_advance(clock, 3601.0) == MCPGUARD_RESULT_OK &&
             mcpguard_oauth_server_purge_expired(server, &removed) == MCPGUARD_RESULT_OK &&
             removed > 0,
         "purge: expired records go");
  expect(mcpguard_oauth_server_revoke(server, "x", 1, NULL, 0, "no-such-client", 14, NULL, 0) ==
                 MCPGUARD_RESULT_OAUTH_REFUSED &&
             strstr(mcpguard_last_error_info(), "\"invalid_client\"") != NULL,
         "revoke: an unknown client is an OAuth refusal");
  mcpguard_string_free(jwks);
  mcpguard_string_free(metadata);
}

int main(void) {
  static const char config[] =
      "{\"resource\": \"https://mcp.example.com/mcp\","
      " \"servers\": {\"web-search\": {\"tags\": [\"web\"]}, \"postgres\": {\"tags\": [\"db\"]}},"
      " \"authorization_server\": {\"issuer\": \"https://auth.example.com\"}}";
  static const char endpoint[] = "{\"server\": \"web-search\"}";
  mcpguard_manual_clock *clock = NULL;
  mcpguard_guard *guard = NULL;
  mcpguard_oauth_server *server = NULL;
  mcpguard_http_options *options = NULL;
  if (mcpguard_manual_clock_new(NOW, &clock) != MCPGUARD_RESULT_OK ||
      mcpguard_guard_new_with_clock(config, strlen(config), clock, &guard) != MCPGUARD_RESULT_OK ||
      mcpguard_oauth_server_new(guard, &server) != MCPGUARD_RESULT_OK ||
      mcpguard_http_options_new(endpoint, strlen(endpoint), &options) != MCPGUARD_RESULT_OK) {
    fprintf(stderr, "setup failed: %s\n", mcpguard_last_error());
    return 1;
  }
  flow(guard, server, options);
  operations(server, clock);
  mcpguard_http_options_free(options);
  mcpguard_oauth_server_free(server);
  mcpguard_guard_free(guard);
  mcpguard_manual_clock_free(clock);
  if (failures != 0) {
    fprintf(stderr, "oauth: %d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("oauth: %d checks passed\n", checks);
  return 0;
}
