//! `mcpguard_oauth_server`: the core's embedded authorization server for C
//! hosts, built from a guard whose configuration has an
//! `authorization_server` section.
//!
//! Decides only how C's pointer + length fields map onto the engine's HTTP
//! request and how its answer is read back (as an `mcpguard_http_response`,
//! the type the guard's listing filter already returns). Every rule of the
//! flow (registration, PKCE, consent, codes, refresh rotation, revocation)
//! is the core's `AuthorizationServer`, and the server is built by
//! `mcpguard-host` exactly as the Node binding builds it, on the store the
//! section's `storage` names.

use std::ffi::c_char;

use mcpguard::guard::HttpResponse;
use mcpguard::oauth::http::HttpRequest;
use mcpguard::oauth::{
    AuthorizationServer, ClientAuth, OAuthServerError, RevocationRequest, SigningKey,
};
use mcpguard_host::ServerError;

use crate::ffi::{
    Failure, Out, arg, arg_opt_str, arg_str, boundary, boxed, free_boxed, mcpguard_result,
    mcpguard_str, owned_string, read_handle,
};
use crate::guard::mcpguard_guard;
use crate::http::{arg_bytes, headers_from_parts, mcpguard_http_header, mcpguard_http_response};

/// The authorization server of one guard: its endpoints at the HTTP level
/// and its operational calls. Thread-safe: every function taking a
/// `const mcpguard_oauth_server *` may be called from many threads at once.
/// It keeps its guard's state alive (tokens it issues are checked by that
/// guard), so it may outlive the `mcpguard_guard` object. Free it with
/// `mcpguard_oauth_server_free`.
pub struct mcpguard_oauth_server {
    server: AuthorizationServer,
}

fn oauth_failure(e: &OAuthServerError) -> Failure {
    let code = match e {
        OAuthServerError::Store(_) => mcpguard_result::StoreUnavailable,
        _ => mcpguard_result::OauthRefused,
    };
    Failure::classified(code, e, None)
}

/// Builds the authorization server of `guard`'s `authorization_server`
/// section, its state in the store the section's `storage` names (memory,
/// an SQLite file relative to the working directory, or the Redis of the
/// configuration's `store.redis`). Revocations the store holds are replayed
/// into the guard. Build it once and share it: each call opens the store
/// anew, and two in-memory servers do not share state. A guard without the
/// section is `MCPGUARD_RESULT_CONFIG_ERROR`; a store that cannot be opened
/// `MCPGUARD_RESULT_STORE_UNAVAILABLE`. On failure `*out` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_oauth_server_new(
    guard: *const mcpguard_guard,
    out: *mut *mut mcpguard_oauth_server,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let guard = unsafe { arg(guard, "guard") }?;
        let server = guard.hosted.authorization_server(None).map_err(|e| {
            let code = match e {
                ServerError::NotConfigured => mcpguard_result::ConfigError,
                _ => mcpguard_result::StoreUnavailable,
            };
            Failure::new(code, e.to_string())
        })?;
        out.set(boxed(mcpguard_oauth_server { server }));
        Ok(())
    })
}

/// Frees an authorization server. NULL is ignored; the pointer is invalid
/// afterwards. No other thread may be using it. Tokens it issued stay valid
/// at the guard until they expire.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_oauth_server_free(server: *mut mcpguard_oauth_server) {
    // SAFETY: `server` is NULL or from `mcpguard_oauth_server_new`, freed once.
    unsafe { free_boxed(server) }
}

/// One HTTP request to the authorization server, as the host's server has
/// it. Text fields are pointer + length, UTF-8 (not NUL-terminated); an
/// optional one is absent when its pointer is NULL (with length 0). Start
/// from `MCPGUARD_OAUTH_REQUEST_INIT`. The server reads the memory only
/// during `mcpguard_oauth_server_handle_http`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mcpguard_oauth_request {
    /// The method, e.g. `POST` (required; compared exactly).
    pub method: *const c_char,
    /// Length of `method` in bytes.
    pub method_len: usize,
    /// The path without the query, e.g. `/token` (required).
    pub path: *const c_char,
    /// Length of `path` in bytes.
    pub path_len: usize,
    /// The raw query string as received, without the `?`, not decoded
    /// (NULL: none).
    pub query: *const c_char,
    /// Length of `query` in bytes.
    pub query_len: usize,
    /// Every header in the order received (NULL when `header_count` is 0).
    /// Names and values must be UTF-8 here.
    pub headers: *const mcpguard_http_header,
    /// How many headers `headers` holds.
    pub header_count: usize,
    /// The whole body (any bytes; NULL when `body_len` is 0).
    pub body: *const u8,
    /// Length of `body` in bytes.
    pub body_len: usize,
    /// The peer's address: the registration endpoint's rate-limit key
    /// (NULL: unknown, all such peers share one budget).
    pub peer: *const c_char,
    /// Length of `peer` in bytes.
    pub peer_len: usize,
    /// The signed-in user the host authenticated, needed to answer the
    /// consent form posted to `/authorize` (NULL: nobody is signed in; the
    /// consent post is then answered 401 `login_required`).
    pub subject: *const c_char,
    /// Length of `subject` in bytes.
    pub subject_len: usize,
}

/// Answers one HTTP request to any endpoint of the server: the RFC 8414
/// metadata document, `/jwks.json`, `/register` (RFC 7591), `/authorize`
/// (the consent page, then the consent post), `/token` and `/revoke`
/// (RFC 7009), under the issuer's path. A refusal is an answer, not a
/// failure: the call returns `MCPGUARD_RESULT_OK` and `*out` holds the
/// status, headers and body to send (read it with the
/// `mcpguard_http_response_*` functions and free it with
/// `mcpguard_http_response_free`). When the path is none of the server's
/// endpoints, `*out` is NULL (still `MCPGUARD_RESULT_OK`): route the request
/// elsewhere. Failures are the caller's mistakes only (NULL, bad UTF-8),
/// and then `*out` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_oauth_server_handle_http(
    server: *const mcpguard_oauth_server,
    request: *const mcpguard_oauth_request,
    out: *mut *mut mcpguard_http_response,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(std::ptr::null_mut());
        // SAFETY: as above.
        let (server, r) = unsafe { (arg(server, "server")?, arg(request, "request")?) };
        // SAFETY: every pointer in the request is NULL or valid for its
        // length, for this call (the header's pointer contract).
        let (method, path, query, peer, subject, headers, body) = unsafe {
            (
                arg_str(r.method, r.method_len, "request.method")?,
                arg_str(r.path, r.path_len, "request.path")?,
                arg_opt_str(r.query, r.query_len, "request.query")?,
                arg_opt_str(r.peer, r.peer_len, "request.peer")?,
                arg_opt_str(r.subject, r.subject_len, "request.subject")?,
                headers_from_parts(r.headers, r.header_count)?,
                arg_bytes(r.body, r.body_len, "request.body")?,
            )
        };
        let headers = headers
            .into_iter()
            .enumerate()
            .map(|(i, (n, v))| {
                let text = |b, what: &str| {
                    std::str::from_utf8(b).map_err(|e| {
                        Failure::new(
                            mcpguard_result::InvalidUtf8,
                            format!(
                                "request.headers[{i}].{what} is not valid UTF-8 (at byte {})",
                                e.valid_up_to()
                            ),
                        )
                    })
                };
                Ok((text(n, "name")?, text(v, "value")?))
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let request = HttpRequest {
            method,
            path,
            query: query.unwrap_or_default(),
            headers: &headers,
            body,
        };
        if let Some(answer) = server
            .server
            .handle_http(&request, peer.unwrap_or_default(), subject)
        {
            let r = HttpResponse {
                status: answer.status,
                headers: answer
                    .headers
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v))
                    .collect(),
                body: answer.body.into_bytes(),
            };
            out.set(boxed(mcpguard_http_response::new(r)));
        }
        Ok(())
    })
}

/// The issuer identifier, borrowed from the server.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_oauth_server_issuer(
    server: *const mcpguard_oauth_server,
    out: *mut mcpguard_str,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read_handle(server, "server", out, |s| {
            Ok(mcpguard_str::borrow(s.server.issuer()))
        })
    }
}

/// The RFC 8414 authorization-server metadata document, as JSON text the
/// caller frees with `mcpguard_string_free` (what `handle_http` serves at
/// `/.well-known/oauth-authorization-server`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_oauth_server_metadata(
    server: *const mcpguard_oauth_server,
    out: *mut *mut c_char,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read_handle(server, "server", out, |s| {
            owned_string(s.server.metadata().to_string())
        })
    }
}

/// The public JWK Set of the signing keys (the key in use and the one it
/// replaced), as JSON text the caller frees with `mcpguard_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_oauth_server_jwks(
    server: *const mcpguard_oauth_server,
    out: *mut *mut c_char,
) -> mcpguard_result {
    // SAFETY: the header's pointer contract, forwarded.
    unsafe {
        read_handle(server, "server", out, |s| {
            owned_string(s.server.jwks().to_string())
        })
    }
}

/// Rotates the signing key: the new key signs from now on; the key in use
/// until now stays published and trusted (overlap) until the next rotation,
/// and the guard trusts the new set at once. `pem` is a P-256 private key in
/// PEM (PKCS#8 or SEC1; NULL: a fresh key is generated) and `kid` its key
/// id (NULL: derived from the key). A key that is not P-256 or does not
/// parse is `MCPGUARD_RESULT_KEY_ERROR`, and the keys in use stay.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_oauth_server_rotate_key(
    server: *const mcpguard_oauth_server,
    pem: *const c_char,
    pem_len: usize,
    kid: *const c_char,
    kid_len: usize,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (server, pem, kid) = unsafe {
            (
                arg(server, "server")?,
                arg_opt_str(pem, pem_len, "pem")?,
                arg_opt_str(kid, kid_len, "kid")?,
            )
        };
        let key_error = |e: &dyn std::fmt::Display| {
            Failure::new(mcpguard_result::KeyError, format!("signing key: {e}"))
        };
        let key = match pem {
            Some(pem) => SigningKey::from_pem(pem, kid),
            None if kid.is_some() => {
                return Err(Failure::new(
                    mcpguard_result::InvalidArgument,
                    "kid names the key in pem; it cannot be given without pem",
                ));
            }
            None => SigningKey::generate(),
        }
        .map_err(|e| key_error(&e))?;
        server
            .server
            .rotate_signing_key(key)
            .map_err(|e| key_error(&e))
    })
}

/// Revokes a token (RFC 7009) as the client that holds it: an access token
/// (its `jti` goes on the guard's deny-list) or a refresh token (its whole
/// family, and the access tokens the family produced). `client_id` is
/// required; `client_secret` is the confidential client's secret (NULL for
/// a public client); `token_type_hint` (`access_token` or `refresh_token`,
/// NULL: none) only orders the search. A token that is unknown or expired
/// needs nothing and succeeds. A refusal (a wrong secret, another client's
/// token) is `MCPGUARD_RESULT_OAUTH_REFUSED`, the store failing
/// `MCPGUARD_RESULT_STORE_UNAVAILABLE`; `mcpguard_last_error_info()` gives
/// the OAuth `code` and `status`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_oauth_server_revoke(
    server: *const mcpguard_oauth_server,
    token: *const c_char,
    token_len: usize,
    token_type_hint: *const c_char,
    token_type_hint_len: usize,
    client_id: *const c_char,
    client_id_len: usize,
    client_secret: *const c_char,
    client_secret_len: usize,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (server, token, hint, client_id, client_secret) = unsafe {
            (
                arg(server, "server")?,
                arg_str(token, token_len, "token")?,
                arg_opt_str(token_type_hint, token_type_hint_len, "token_type_hint")?,
                arg_str(client_id, client_id_len, "client_id")?,
                arg_opt_str(client_secret, client_secret_len, "client_secret")?,
            )
        };
        server
            .server
            .revoke(&RevocationRequest {
                token: Some(token),
                token_type_hint: hint,
                client: ClientAuth {
                    client_id: Some(client_id),
                    client_secret,
                },
            })
            .map_err(|e| oauth_failure(&e))
    })
}

/// Forgets what expired by the guard's clock (pending authorization
/// requests, codes, refresh tokens and families, access-token records) and
/// writes how many records went to `*removed` (NULL: not wanted). Call it
/// now and then (a timer); it never touches live state. The store failing
/// is `MCPGUARD_RESULT_STORE_UNAVAILABLE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcpguard_oauth_server_purge_expired(
    server: *const mcpguard_oauth_server,
    removed: *mut usize,
) -> mcpguard_result {
    boundary(|| {
        // SAFETY: pointers are NULL or valid (the header's pointer contract).
        let (server, removed) = unsafe { (arg(server, "server")?, Out::optional(removed)) };
        let n = server
            .server
            .purge_expired()
            .map_err(|e| oauth_failure(&e))?;
        if let Some(out) = removed {
            out.set(n);
        }
        Ok(())
    })
}
