/*
 * The opaque-token store and RFC 7662 introspection responses from C, run
 * by `make -C bindings/c test` under valgrind (shared library) and ASan +
 * UBSan (static library): every success and every refusal path, the
 * objects they hand out freed, the outputs they must leave NULL checked.
 * Prints one line and exits 0 when every check passes, 1 otherwise.
 *
 * The store's "full" refusal needs its 100000 tokens; that case is covered
 * through the same functions by the Rust suite (tests/misuse.rs), where it
 * does not multiply valgrind's run time.
 */
#include <stdio.h>
#include <string.h>

#include "mcpguard.h"

#define NOW 1767225600.0

#include "check.h"

static int same(mcpguard_str s, const char *text) {
  return s.len == strlen(text) && memcmp(s.data, text, s.len) == 0;
}

static mcpguard_result insert(const mcpguard_guard *guard, const char *token, const char *entry) {
  return mcpguard_guard_insert_opaque(guard, token, strlen(token), entry, strlen(entry));
}

/* Validates `token` and compares the principal's subject and its first tag. */
static void expect_principal(const mcpguard_guard *guard, const char *token, const char *subject,
                             const char *tag, const char *what) {
  mcpguard_principal *p = NULL;
  mcpguard_str s = {NULL, 0};
  size_t tags = 0;
  expect(mcpguard_guard_validate(guard, token, strlen(token), &p, NULL) == MCPGUARD_RESULT_OK, what);
  if (p == NULL) {
    return;
  }
  expect(mcpguard_principal_subject(p, &s) == MCPGUARD_RESULT_OK && same(s, subject), what);
  expect(mcpguard_principal_tag_count(p, &tags) == MCPGUARD_RESULT_OK && tags == 1, what);
  expect(mcpguard_principal_tag(p, 0, &s) == MCPGUARD_RESULT_OK && same(s, tag), what);
  mcpguard_principal_free(p);
}

/* Validates `token` and expects a refusal with `reason`. */
static void expect_refused(const mcpguard_guard *guard, const char *token, const char *reason,
                           const char *what) {
  mcpguard_principal *p = NULL;
  mcpguard_token_failure failure;
  memset(&failure, 0, sizeof failure);
  expect(mcpguard_guard_validate(guard, token, strlen(token), &p, &failure) ==
             MCPGUARD_RESULT_TOKEN_REJECTED,
         what);
  expect(p == NULL && failure.status == 401 && same(failure.reason, reason), what);
}

/* Introspects `response`; expects a principal for `subject`, or (subject
   NULL) a refusal with `reason`. */
static void expect_introspection(const mcpguard_guard *guard, const char *response,
                                 const char *subject, const char *reason, const char *what) {
  mcpguard_principal *p = NULL;
  mcpguard_token_failure failure;
  mcpguard_str s = {NULL, 0};
  char *json = NULL;
  mcpguard_result r;
  memset(&failure, 0, sizeof failure);
  r = mcpguard_guard_validate_introspection(guard, response, strlen(response), &p, &failure);
  if (subject == NULL) {
    expect(r == MCPGUARD_RESULT_TOKEN_REJECTED && p == NULL, what);
    expect(failure.status == 401 && same(failure.error, "invalid_token") &&
               same(failure.reason, reason),
           what);
    return;
  }
  expect(r == MCPGUARD_RESULT_OK && p != NULL, what);
  if (p == NULL) {
    return;
  }
  expect(mcpguard_principal_subject(p, &s) == MCPGUARD_RESULT_OK && same(s, subject), what);
  expect(mcpguard_principal_to_json(p, &json) == MCPGUARD_RESULT_OK &&
             strstr(json, "\"tags\":[\"files\"]") != NULL,
         what);
  mcpguard_string_free(json);
  mcpguard_principal_free(p);
}

int main(void) {
  static const char config[] =
      "{\"resource\": \"https://mcp.example.com/mcp\","
      " \"auth\": {\"issuers\": [{\"issuer\": \"https://auth.example.com\", \"jwks\": {\"keys\": []}}],"
      "          \"opaque_tokens\": true},"
      " \"servers\": {\"files\": {\"tags\": [\"files\"]}, \"web\": {\"tags\": [\"web\"]}},"
      " \"rate_limit\": {\"enabled\": false}}";
  static const char no_store[] =
      "{\"resource\": \"https://mcp.example.com/mcp\", \"auth\": {\"issuers\": []}}";
  static const char bearer[] = "Bearer opq-alice-7Hd93kQ";
  mcpguard_manual_clock *clock = NULL;
  mcpguard_guard *guard = NULL, *plain = NULL;
  mcpguard_decision *decision = NULL;
  mcpguard_principal *p = NULL;
  mcpguard_request request = MCPGUARD_REQUEST_INIT;
  bool allowed = false;

  if (mcpguard_manual_clock_new(NOW, &clock) != MCPGUARD_RESULT_OK ||
      mcpguard_guard_new_with_clock(config, strlen(config), clock, &guard) != MCPGUARD_RESULT_OK ||
      mcpguard_guard_new_with_clock(no_store, strlen(no_store), clock, &plain) !=
          MCPGUARD_RESULT_OK) {
    fprintf(stderr, "setup failed: %s\n", mcpguard_last_error());
    return 1;
  }

  /* Stored, validated, authorized, replaced, revoked. */
  expect_refused(guard, "opq-alice-7Hd93kQ", "inactive", "an unknown token is inactive");
  expect(insert(guard, "opq-alice-7Hd93kQ",
                "{\"client_id\": \"app\", \"subject\": \"alice\", \"scopes\": [\"tag:web\"],"
                " \"expires_at\": 1767226200}") == MCPGUARD_RESULT_OK,
         "insert");
  expect_principal(guard, "opq-alice-7Hd93kQ", "alice", "web", "a stored token validates");
  request.authorization = bearer;
  request.authorization_len = strlen(bearer);
  expect(mcpguard_guard_authorize(guard, &request, &decision) == MCPGUARD_RESULT_OK &&
             mcpguard_decision_allowed(decision, &allowed) == MCPGUARD_RESULT_OK && allowed,
         "a stored token is authorized");
  mcpguard_decision_free(decision);
  expect(insert(guard, "opq-alice-7Hd93kQ", "{\"subject\": \"alice\", \"scopes\": [\"tag:files\"]}") ==
             MCPGUARD_RESULT_OK,
         "insert again");
  expect_principal(guard, "opq-alice-7Hd93kQ", "alice", "files", "a second insert replaces the entry");
  expect(mcpguard_guard_revoke(guard, "opq-alice-7Hd93kQ", strlen("opq-alice-7Hd93kQ")) ==
             MCPGUARD_RESULT_OK,
         "revoke");
  expect_refused(guard, "opq-alice-7Hd93kQ", "inactive", "a revoked token is inactive");

  /* A result code for each refusal; nothing stored. */
  expect(insert(guard, "abc.def", "{}") == MCPGUARD_RESULT_OPAQUE_INVALID_TOKEN, "a dot");
  expect(insert(guard, "", "{}") == MCPGUARD_RESULT_OPAQUE_INVALID_TOKEN, "an empty token");
  expect(insert(guard, "opq-stale", "{\"expires_at\": 1767225600}") == MCPGUARD_RESULT_OPAQUE_EXPIRED,
         "already expired");
  expect_refused(guard, "opq-stale", "inactive", "an expired entry was not stored");
  expect(insert(plain, "opq-nowhere", "{}") == MCPGUARD_RESULT_OPAQUE_DISABLED,
         "no auth.opaque_tokens");
  expect(insert(guard, "opq-bad", "{\"scopes\": [\"tag:web\", 1]}") == MCPGUARD_RESULT_CONFIG_ERROR &&
             strstr(mcpguard_last_error(), "scopes[1]") != NULL,
         "a mistyped member is named");
  expect(insert(guard, "opq-bad", "{not json") == MCPGUARD_RESULT_CONFIG_ERROR, "not JSON");
  expect(insert(guard, "opq-bad", "[]") == MCPGUARD_RESULT_CONFIG_ERROR, "not an object");
  expect_refused(guard, "opq-bad", "inactive", "a bad entry was not stored");

  /* NULL arguments. */
  expect(mcpguard_guard_insert_opaque(NULL, "t", 1, "{}", 2) == MCPGUARD_RESULT_NULL_PARAMETER,
         "NULL guard");
  expect(mcpguard_guard_insert_opaque(guard, NULL, 1, "{}", 2) == MCPGUARD_RESULT_NULL_PARAMETER,
         "NULL token");
  expect(mcpguard_guard_insert_opaque(guard, "t", 1, NULL, 2) == MCPGUARD_RESULT_NULL_PARAMETER,
         "NULL entry");
  p = (mcpguard_principal *)&p; /* not NULL, so the reset to NULL shows */
  expect(mcpguard_guard_validate_introspection(guard, NULL, 2, &p, NULL) ==
                 MCPGUARD_RESULT_NULL_PARAMETER &&
             p == NULL,
         "NULL response leaves *out NULL");
  expect(mcpguard_guard_validate_introspection(NULL, "{}", 2, &p, NULL) ==
             MCPGUARD_RESULT_NULL_PARAMETER,
         "NULL guard (introspection)");
  expect(mcpguard_guard_validate_introspection(guard, "{}", 2, NULL, NULL) ==
             MCPGUARD_RESULT_NULL_PARAMETER,
         "NULL out (introspection)");

  /* Introspection responses. */
  expect_introspection(guard,
                       "{\"active\": true, \"iss\": \"https://auth.example.com\", \"sub\": \"bob\","
                       " \"aud\": \"https://mcp.example.com/mcp\", \"scope\": \"tag:files\","
                       " \"exp\": 1767229200}",
                       "bob", NULL, "an active response");
  expect_introspection(guard, "{\"active\": false}", NULL, "inactive", "an inactive response");
  expect_introspection(guard, "{\"active\": true, \"exp\": 1767222000}", NULL, "expired",
                       "an expired response");
  expect_introspection(guard, "not json", NULL, "malformed", "not JSON");
  expect_introspection(guard, "{\"active\": true, \"sub\": \"a\", \"sub\": \"b\"}", NULL, "malformed",
                       "a repeated member");
  expect(mcpguard_guard_validate_introspection(guard, "{\"active\": false}", 17, &p, NULL) ==
                 MCPGUARD_RESULT_TOKEN_REJECTED &&
             p == NULL,
         "the failure output is optional");

  mcpguard_guard_free(plain);
  mcpguard_guard_free(guard);
  mcpguard_manual_clock_free(clock);
  if (failures != 0) {
    fprintf(stderr, "opaque: %d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("opaque: %d checks passed\n", checks);
  return 0;
}
