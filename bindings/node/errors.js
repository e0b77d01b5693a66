'use strict'
// The error classes of mcpguard, and the one place that reads the payload
// the native layer puts in its error messages (see src/errors.rs): the
// core's classification of the error (kind, code, reason, status, message,
// path, www_authenticate). `kind` picks the class, one class per kind; the
// rest is copied as the core gave it.

/** Prefix of the native layer's error messages; what follows is JSON. */
const MARKER = '\u0000mcpguard:'

/**
 * Base class of every error mcpguard throws. `code` is the OAuth error
 * (`invalid_token`, `insufficient_scope`, `rate_limited`, `invalid_request`)
 * or `invalid_configuration`; `reason` the mcpguard reason code (`expired`,
 * `wrong_audience`, …) or `null`; `status` the HTTP status a host answers
 * with (or `null`); `wwwAuthenticate` the challenge to send (or `null`).
 */
class GuardError extends Error {
  constructor(message, { code = 'guard_error', reason = null, status = null, wwwAuthenticate = null } = {}) {
    super(message)
    this.name = new.target.name
    this.code = code
    this.reason = reason
    this.status = status
    this.wwwAuthenticate = wwwAuthenticate
  }
}

/** A token was refused (HTTP 401). */
class InvalidTokenError extends GuardError {}

/** A valid token lacks a scope this resource requires (HTTP 403). */
class InsufficientScopeError extends GuardError {}

/** A rate limit refused the request (HTTP 429). */
class RateLimitedError extends GuardError {
  constructor(message, fields = {}) {
    super(message, fields)
    /** Seconds until the request would pass, or `null`. */
    this.retryAfter = fields.retryAfter ?? null
  }
}

/** A request or argument the Guard cannot act on (HTTP 400). */
class InvalidRequestError extends GuardError {}

/** A configuration was refused; `path` is the JSON path of the offending value. */
class ConfigError extends GuardError {
  constructor(message, fields = {}) {
    super(message, { code: 'invalid_configuration', ...fields })
    this.path = fields.path ?? ''
  }
}

/**
 * The opaque-token store refused an entry (`insertOpaque`). `code` says why:
 * `full` (the store holds its capacity of unexpired tokens; `status` 503),
 * `invalid_token` (not 1 to 4096 RFC 6750 token characters without a dot),
 * `expired` (`expiresAt` is not in the future) or `disabled`
 * (`auth.opaque_tokens` is off).
 */
class OpaqueStoreError extends GuardError {}

/**
 * The opaque-token store refused an entry for the entry's own fault:
 * `code` `invalid_token` (not 1 to 4096 RFC 6750 token characters without a
 * dot) or `expired` (`expiresAt` is not in the future). An
 * `OpaqueStoreError` too, so code that catches that keeps working.
 */
class OpaqueTokenRejectedError extends OpaqueStoreError {}

/** The class of each error kind the core classifies (`mcpguard::classify::ErrorKind`). */
const KIND_CLASSES = {
  config: ConfigError,
  invalid_token: InvalidTokenError,
  insufficient_scope: InsufficientScopeError,
  invalid_request: InvalidRequestError,
  opaque_token: OpaqueTokenRejectedError,
  opaque_store: OpaqueStoreError,
  guard: GuardError,
}

/** The class of each OAuth error a refused decision carries. */
const DECISION_CLASSES = {
  invalid_token: InvalidTokenError,
  insufficient_scope: InsufficientScopeError,
  rate_limited: RateLimitedError,
  invalid_request: InvalidRequestError,
}

/**
 * The mcpguard error a native error stands for; any other error (a
 * TypeError from argument conversion, say) is returned unchanged.
 */
function fromNative(error) {
  const message = error && typeof error.message === 'string' ? error.message : ''
  // napi-rs could not convert an argument (`StringExpected`,
  // `NumberExpected`, …): a wrong type, which JavaScript reports as a
  // TypeError. The code is kept.
  if (typeof error?.code === 'string' && error.code.endsWith('Expected') && !(error instanceof TypeError)) {
    const wrongType = new TypeError(message)
    wrongType.code = error.code
    return wrongType
  }
  if (!message.startsWith(MARKER)) return error
  let payload
  try {
    payload = JSON.parse(message.slice(MARKER.length))
  } catch {
    return error
  }
  // An argument of the wrong shape that only the core could see (a member
  // of an opaque-token entry): what JavaScript throws for a wrong type.
  if (payload.kind === 'type') return new TypeError(payload.message)
  const Class = KIND_CLASSES[payload.kind] ?? GuardError
  return new Class(payload.message, {
    code: payload.code,
    reason: payload.reason,
    status: payload.status,
    wwwAuthenticate: payload.www_authenticate,
    path: payload.path,
  })
}

/**
 * The decision-shaped counterpart of `fromNative`: the error a refused
 * decision stands for, for hosts that prefer to throw.
 */
function fromDecision(decision) {
  const Class = DECISION_CLASSES[decision.error] ?? GuardError
  const challenge = decision.headers.find(([name]) => name.toLowerCase() === 'www-authenticate')
  return new Class(decision.errorDescription ?? decision.error ?? 'refused', {
    code: decision.error,
    reason: decision.reason,
    status: decision.status,
    wwwAuthenticate: challenge ? challenge[1] : null,
    retryAfter: decision.rateLimit ? decision.rateLimit.retryAfter : null,
  })
}

module.exports = {
  GuardError,
  InvalidTokenError,
  InsufficientScopeError,
  RateLimitedError,
  InvalidRequestError,
  ConfigError,
  OpaqueStoreError,
  OpaqueTokenRejectedError,
  fromNative,
  fromDecision,
}
