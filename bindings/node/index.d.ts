/**
 * mcpguard for Node: OAuth 2.1 bearer tokens, 1MCP's tag-based access
 * control and per-client rate limits for MCP servers, decided by the
 * mcpguard Rust core.
 *
 * ```js
 * const { Guard } = require('mcpguard')
 * const guard = Guard.fromFile('guard.json')
 * const d = guard.authorize({ authorization: req.headers.authorization, server: 'filesystem' })
 * if (!d.allowed) {
 *   for (const [name, value] of d.headers) res.setHeader(name, value)
 *   res.status(d.status).json({ error: d.error, error_description: d.errorDescription })
 * }
 * ```
 *
 * Hand-written: the generated typings of the native module are native.d.ts.
 * @packageDocumentation
 */

/** The filter a client asked for: exactly one kind (two kinds are a 400 decision). */
export type RequestFilter =
  | { /** 1MCP's `tags` query parameter: a comma list meaning OR. */ tags: string; tagFilter?: undefined; preset?: undefined }
  | { /** 1MCP's `tag-filter` parameter: `web AND (api OR db)`. */ tagFilter: string; tags?: undefined; preset?: undefined }
  | { /** The name of a configured preset (1MCP's `preset` parameter). */ preset: string; tags?: undefined; tagFilter?: undefined }

/** One request to authorize; every field is optional. */
export interface AuthorizeRequest {
  /** The raw `Authorization` header value (`Bearer eyJ…`). */
  authorization?: string | null
  /** The target server, when the request targets one. */
  server?: string | null
  /** The target tool on that server (needs `server`). */
  tool?: string | null
  /** The client's tag filter. */
  filter?: RequestFilter | null
  /** The host's fallback rate-limit key, e.g. the client's IP address. */
  key?: string | null
  /** Rate-limit cost: a whole number, at least 1 (default 1). */
  cost?: number | null
  /**
   * The request URL's query as `[name, value]` pairs (a `URLSearchParams`
   * works), URL-decoded. 1MCP's `tags`, `tag-filter` and `preset`
   * parameters are read from it; a repeated one, or one besides `filter`,
   * is a 400 decision.
   */
  query?: Iterable<[string, string]> | null
}

/**
 * Who a valid token speaks for, as the Guard knows it at the time of the
 * call (an opaque token's entry can be replaced: a decision shows the
 * current one).
 */
export interface Principal {
  /** How the token was validated: a signed JWT, an opaque token from the store, or an introspection response. */
  kind: 'jwt' | 'opaque' | 'introspected'
  /** `sub`. */
  subject: string | null
  /** `client_id` (or `azp`). */
  clientId: string | null
  /** `iss`. */
  issuer: string
  /** `aud`, as a list. */
  audience: string[]
  /** The token's scopes (`scope` / `scp`), `[]` without any. */
  scopes: string[]
  /** Granted tags: the token's `tag:` scopes, then those its roles add, without repeats. */
  tags: string[]
  /** Role names from `auth.role_claim`, `[]` without the claim. */
  roles: string[]
  /** `exp` in Unix seconds. */
  expiresAt: number | null
  /** `jti`. */
  jwtId: string | null
}

/**
 * What the opaque-token store knows about a token the host issued itself
 * (`insertOpaque`); every member is optional, and `null` reads as absent.
 */
export interface OpaqueEntry {
  /** The client the token was issued to. */
  clientId?: string | null
  /** The subject (user) the token speaks for. */
  subject?: string | null
  /** Granted scopes, in order; `tag:` scopes grant tags. */
  scopes?: string[] | null
  /** Role names (`roles` in the configuration grant their tags). */
  roles?: string[] | null
  /** The resource (audience) the token is for; absent: any. */
  resource?: string | null
  /** Expiry in whole Unix seconds; absent: valid until revoked. */
  expiresAt?: number | null
}

/** Why the opaque-token store refused an entry (`OpaqueStoreError.code`). */
export type OpaqueStoreErrorCode = 'full' | 'invalid_token' | 'expired' | 'disabled'

/** Why the opaque-token store refused an entry for the entry's own fault (`OpaqueTokenRejectedError.code`). */
export type OpaqueTokenRejectedCode = 'invalid_token' | 'expired'

/**
 * How `listingItems` maps the items of a listing (`tools/list`, …) to
 * servers: all to one server, by a name prefix, by 1MCP's naming
 * (`server_1mcp_tool`), or by a JSON pointer into the item.
 */
export type ListingItems =
  | { server: string }
  | { prefix: { field?: string; separator: string } }
  | { oneMcp: true }
  | { field: string }

/** The options of one protected HTTP endpoint (the core's `HttpOptions`); all optional. */
export interface HttpOptionsInit {
  /** The MCP server this endpoint serves, for access checks and rate-limit rules. */
  server?: string | null
  /** Read `POST` bodies for the tools they call and the listings they ask for (needs `server`; default: on with a server). */
  readBody?: boolean
  /** The largest body read (default 4 MiB); a larger one is a 400. */
  maxBodyBytes?: number
  /** Answer the RFC 9728 metadata route at `guard.metadataPath()` (default true). */
  serveMetadata?: boolean
  /** How listed items map to servers (default: every item belongs to `server`). */
  listingItems?: ListingItems | null
  /** Rate-limit cost of one request, or of one call in a batch (default 1). */
  cost?: number
}

/**
 * The options of one protected HTTP endpoint, read and checked once by the
 * core and then shared by every request.
 */
export declare class HttpOptions {
  /** @throws {ConfigError} naming an unknown key or a bad value (`readBody` without `server`, …). */
  constructor(options?: HttpOptionsInit | null)
  /** The server this endpoint serves, or `null`. */
  readonly server: string | null
  /** Whether `POST` bodies are read (the host must hand them over). */
  readonly readBody: boolean
  /** The largest body read; a host reads at most one byte more, then passes `HttpBody.tooLarge`. */
  readonly maxBodyBytes: number
  /** Whether the metadata route is answered. */
  readonly serveMetadata: boolean
}

/** Markers for a body the host does not hand over to `authorizeHttp`. */
export declare const HttpBody: {
  /** The host stopped reading past `maxBodyBytes`: a 400. */
  readonly tooLarge: unique symbol
  /** The body was consumed elsewhere: the core answers 500, naming the host's mistake. */
  readonly unavailable: unique symbol
}

/** One HTTP request as Node has it. */
export interface HttpRequest {
  /** The method, e.g. `POST` (default `GET`). */
  method?: string
  /** The path without the query (default `/`). */
  path?: string
  /** The raw query string as received, without `?`, not decoded. */
  query?: string
  /**
   * Every header as Node's `req.rawHeaders` lists them: name, value, name,
   * value, … (repeats kept). Each character is one byte (Latin-1, as Node
   * reads headers); a character above U+00FF makes the header unreadable.
   */
  headers?: readonly string[]
  /** The peer's address: the default rate-limit key. */
  peer?: string | null
  /** The body, or a marker for one the host does not have; absent: none. */
  body?: Uint8Array | string | typeof HttpBody.tooLarge | typeof HttpBody.unavailable | null
  /** A server the host's routing chose (overrides the options' server). */
  server?: string | null
  /** A rate-limit key the host chose (overrides `peer`). */
  key?: string | null
  /** A rate-limit cost the host chose (overrides the options' cost). */
  cost?: number | null
}

/**
 * A complete response the core built. Bodies are Node `Buffer`s (typed as
 * `Uint8Array`, so that these typings need no Node typings).
 */
export interface HttpResponse {
  status: number
  /** `[name, value]` pairs in order, Content-Type and Content-Length included. */
  headers: [string, string][]
  body: Uint8Array
}

/** What `filterResponse` gives. */
export type FilteredBody =
  | { ok: true; /** The filtered body, a `Buffer` (send it with its own Content-Length). */ body: Uint8Array }
  | { ok: false; /** The 502 to send instead: the application's response could not be read. */ response: HttpResponse }

/** The answer of `guard.authorizeHttp`. */
export declare class HttpDecision {
  private constructor()
  /**
   * `respond`: send `status`, `headers`, `body` as they are (the metadata
   * document, a refusal); `forward`: hand the request to the application
   * and add `headers` to its response; `pass`: hand it on untouched (a CORS
   * preflight).
   */
  readonly action: 'respond' | 'forward' | 'pass'
  /** The status of the response to send (`respond`), else `null`. */
  readonly status: number | null
  /** The response's headers (`respond`) or those to add to the application's (`forward`). */
  readonly headers: [string, string][]
  /** The body of the response to send (`respond`), a `Buffer`; empty otherwise. */
  readonly body: Uint8Array
  /** The Guard's decision, when one was made (not for the metadata route or a preflight). */
  readonly decision: Decision | null
  /**
   * Until when (Unix seconds) the Guard accepts the request's token: its
   * `exp` plus the leeway; `null` without a token or an expiry. What an SDK
   * that checks expiry itself must be told (`AuthInfo.expiresAt`).
   */
  readonly acceptedUntil: number | null
  /**
   * The bearer token of the request's one `Authorization` header, read by
   * the core's header rules, when the request is forwarded with a
   * principal; `null` otherwise. What an SDK's `AuthInfo.token` holds.
   */
  readonly token: string | null
  /**
   * The admitted principal's scopes, then the `tag:` scopes its roles
   * grant (`AuthInfo.scopes`, so that an SDK's `requiredScopes` sees what
   * mcpguard grants), when `token` is given; empty otherwise.
   */
  readonly effectiveScopes: string[]
  /** Whether the application's response must go through `filterResponse` (the request asked for a listing). */
  readonly filtersResponse: boolean
  /**
   * The application's response body with every listing result filtered
   * down to what the principal may call; `contentType` is its
   * Content-Type (JSON, or `text/event-stream` with `data:` events).
   */
  filterResponse(contentType: string | null | undefined, body: Uint8Array | string): FilteredBody
}

/** The rate-limit figures of a decision. */
export interface RateLimitStatus {
  /** The limit's quota per window (or the bucket's burst). */
  limit: number
  /** Requests left before this limit denies. */
  remaining: number
  /** Seconds until the full quota is back. */
  reset: number
  /** Seconds until a denied request would pass; `null` when allowed or when no wait helps. */
  retryAfter: number | null
  /** The limit's name: `default`, a role's or a rule's. */
  policy: string
}

/** The OAuth error of a refusal. */
export type OAuthErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'rate_limited'

/** The machine reason of a refusal (spec/conformance.md). */
export type ReasonCode =
  | 'missing_token'
  | 'malformed'
  | 'too_large'
  | 'algorithm_not_allowed'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'missing_claim'
  | 'wrong_type'
  | 'unsupported_critical_header'
  | 'revoked'
  | 'inactive'
  | 'insufficient_scope'
  | 'invalid_filter'
  | 'unknown_preset'
  | 'invalid_request'
  | 'rate_limited'

/** One decision: the shape of config.md with camelCase keys. */
export interface Decision {
  /** Whether the request may proceed. */
  allowed: boolean
  /** 200, 400, 401, 403 or 429. */
  status: number
  /** The OAuth error of a refusal, `null` when allowed. */
  error: OAuthErrorCode | null
  /** A description of a refusal a person can act on. */
  errorDescription: string | null
  /** The machine reason of a refusal. */
  reason: ReasonCode | null
  /**
   * `[name, value]` pairs to send: `WWW-Authenticate` on 400/401/403, the
   * rate-limit headers in the configured format, `Retry-After` on 429.
   */
  headers: Array<[string, string]>
  /** Who the token speaks for, when it was valid. */
  principal: Principal | null
  /** The servers this principal may see with this filter, in configuration order. */
  visibleServers: string[]
  /** The rate-limit figures, when rate limiting ran. */
  rateLimit: RateLimitStatus | null
}

/** One rate-limit check (`RateLimiter.check`, `Guard.checkRateLimit`). */
export interface RateDecision {
  /** The request may proceed (and was counted). */
  allowed: boolean
  /** The limit's capacity. */
  limit: number
  /** Requests left now. */
  remaining: number
  /** Seconds until the full quota is back. */
  reset: number
  /** Seconds until a denied request would pass, or `null`. */
  retryAfter: number | null
  /** Denied because the cost exceeds what the limit can ever admit. */
  never: boolean
  /** The limit's name. */
  policy: string
}

/** One audit event. */
export interface AuditEvent {
  /** Unix seconds (fractional) on the Guard's clock. */
  time: number
  /** What happened. */
  kind:
    | 'auth_success' | 'auth_failure' | 'access_denied' | 'rate_limited' | 'store_error'
    | 'client_registered' | 'consent_granted' | 'token_issued' | 'token_refreshed' | 'token_reuse' | 'token_revoked'
    // What the fetcher did for an issuer (`issuer` names it).
    | 'jwks_fetched' | 'jwks_failed' | 'keys_rotated' | 'introspection_called' | 'introspection_failed'
  /** The reason code of a refusal. */
  reason: ReasonCode | null
  /** The principal's client id. */
  clientId: string | null
  /** The principal's subject. */
  subject: string | null
  /** The principal's issuer. */
  issuer: string | null
  /** The request's server. */
  server: string | null
  /** The request's tool. */
  tool: string | null
  /** `tag:` scopes that would have granted what was refused (for logs, never for clients). */
  missingScopes: string[]
  /** Scopes of the token that grant nothing here. */
  rejectedScopes: string[]
  /** The first 8 bytes of the token's SHA-256, in hex. */
  tokenFingerprint: string | null
}

/** A snapshot of the Guard's counters. */
export interface Counters {
  /** Requests allowed. */
  allowed: number
  /** Refusals per reason code (reasons never seen are left out). */
  denied: Partial<Record<ReasonCode, number>>
  /** All refusals. */
  deniedTotal: number
  /** Validations the verified-token cache answered. */
  cacheHits: number
  /** Validations that verified a token. */
  cacheMisses: number
  /** Audit events pushed out of the full ring before `drainAudit`. */
  auditDropped: number
  /** Audit sink calls that failed. */
  auditSinkPanics: number
  /** JWK Sets fetched from a `jwks_uri` (or discovery) and accepted. */
  jwksFetches: number
  /** JWK Set fetches that failed or were refused (the keys in force stayed). */
  jwksFetchFailures: number
  /** Key sets applied (each rotation, the first load included). */
  jwksUpdates: number
  /** Calls to the introspection endpoint. */
  introspectionCalls: number
  /** Introspection calls that gave no usable answer. */
  introspectionFailures: number
}

/** The RFC 9728 protected-resource metadata document. */
export interface ProtectedResourceMetadata {
  resource: string
  authorization_servers: string[]
  scopes_supported: string[]
  bearer_methods_supported: string[]
  [member: string]: unknown
}

/** Options for building a Guard or an engine. */
export interface ClockOptions {
  /** A manual clock for tests; the system clock by default. */
  clock?: ManualClock | null
}

/**
 * A clock that moves only when told to. Everything built with it shares
 * its time: `Guard.fromJson(config, { clock: new ManualClock(1767225600) })`.
 */
export declare class ManualClock {
  /** A clock reading `unixSeconds` (may be fractional). Throws `InvalidRequestError` for NaN or a negative time. */
  constructor(unixSeconds: number)
  /** Moves the clock by `seconds` (fractional; negative moves it back). */
  advance(seconds: number): void
  /** Sets the clock to `unixSeconds`. */
  set(unixSeconds: number): void
  /** The current reading in (fractional) Unix seconds. */
  now(): number
}

/**
 * Token validation, tag access and rate limiting behind one call per
 * request. Built once, then shared; every method is synchronous.
 */
export declare class Guard {
  private constructor()
  /**
   * Builds a Guard from a configuration (spec/config.md), as JSON text or
   * an object. Unknown keys are errors. The environment is not read.
   * @throws {ConfigError} naming the JSON path of the offending value.
   */
  static fromJson(config: string | object, options?: ClockOptions): Guard
  /**
   * Reads the configuration file at `path` (relative `jwks_file` paths
   * resolve against its folder) and applies the environment overrides
   * (`ONE_MCP_RATE_LIMIT_WINDOW`, `ONE_MCP_RATE_LIMIT_MAX`, …).
   * @throws {ConfigError}
   */
  static fromFile(path: string, options?: ClockOptions): Guard
  /**
   * Decides one request. Never throws for a refusal: the decision carries
   * the status, OAuth error, reason and headers to answer with. A badly
   * shaped request (two filter kinds, a cost below 1 or not whole) is a 400
   * `invalid_request` decision.
   */
  authorize(request?: AuthorizeRequest | null): Decision
  /**
   * `authorize` decided on a thread of mcpguard's own: the same decision,
   * as a promise. For a Guard whose decisions wait on the network
   * (`waitsOnNetwork()`: the Redis store), so that the event loop goes on
   * serving during the round trip; with the in-process store the
   * synchronous call is faster.
   * @throws {TypeError} (a rejection) for a request member of the wrong type.
   */
  authorizeAsync(request?: AuthorizeRequest | null): Promise<Decision>
  /**
   * Decides one HTTP request, everything the request says read by the
   * core: the metadata route, the `Authorization` header (two are a 400),
   * 1MCP's query filter, the JSON-RPC body (single or batch, read strictly:
   * what cannot be read is a 400, never "no tools"), one decision for a
   * whole batch, charged once. Never throws for a refusal. `options`: an
   * `HttpOptions` built once (a plain object is read on every call).
   * @throws {InvalidRequestError} for an odd header list or a bad cost.
   * @throws {ConfigError} for options (a plain object) the core refuses.
   */
  authorizeHttp(request: HttpRequest, options: HttpOptions | HttpOptionsInit): HttpDecision
  /**
   * `authorizeHttp` without waiting on the event loop: the same answer, as
   * a promise. For a Guard whose decisions wait on the network
   * (`waitsOnNetwork()`: the Redis store): a request whose token the Guard
   * verified already is decided on the event loop up to the rate-limit
   * check, which goes to Redis pipelined with every other waiting
   * request's (one server; a cluster's take a pooled connection on a
   * thread); any other request is decided on a thread of mcpguard's own
   * (16 per process; more wait in order), so libuv's pool stays free for
   * files and names. With the in-process store the synchronous call is
   * faster. The request is copied (its body too) before this returns.
   * @throws {InvalidRequestError} (a rejection) for an odd header list or a bad cost.
   */
  authorizeHttpAsync(request: HttpRequest, options: HttpOptions | HttpOptionsInit): Promise<HttpDecision>
  /**
   * Whether a decision may wait on the network: rate limits, revocations
   * or opaque tokens in the Redis store, or an introspection endpoint
   * called for unknown opaque tokens. Drop-ins on an event loop decide off
   * the loop when it is true (`guardMiddleware`'s `offload` default).
   */
  waitsOnNetwork(): boolean
  /**
   * `validate`, and until when the Guard accepts the token (`exp` plus the
   * leeway; `null` for a token without expiry): what the MCP SDK's
   * `AuthInfo.expiresAt` must say so that it accepts what the Guard accepts.
   * @throws {InvalidTokenError}
   * @throws {InsufficientScopeError}
   */
  validateWithExpiry(token: string): { principal: Principal; acceptedUntil: number | null }
  /**
   * `validateWithExpiry` as a promise (rejected with the same errors), for
   * a Guard whose validation may wait on the network (`waitsOnNetwork()`):
   * a token the verified-token cache holds, with no revocation epoch to
   * read, is answered on the event loop; any other on a thread of
   * mcpguard's own. `createTokenVerifier` uses it then.
   */
  validateWithExpiryAsync(token: string): Promise<{ principal: Principal; acceptedUntil: number | null }>
  /**
   * Validates a bare token (no `Bearer ` prefix) through the verified-token
   * cache; the principal's `tags` are filled. Records no audit event.
   * @throws {InvalidTokenError} 401, `reason` says why.
   * @throws {InsufficientScopeError} 403, for `auth.required_scopes`.
   */
  validate(token: string): Principal
  /**
   * Revokes a token (by `jti`, else the whole token) until it would have
   * expired anyway; cached validations of it are dropped at once.
   * @throws {InvalidTokenError} when the token is not one this Guard accepts.
   */
  revoke(token: string): void
  /**
   * Stores an opaque token the host issued itself (needs
   * `auth.opaque_tokens: true`). Requests presenting it are then authorized
   * like a JWT with these claims: `tag:` scopes and roles grant tags,
   * `resource` must name this server, and it is refused once `expiresAt`
   * (plus the leeway) has passed. Storing the same token again replaces its
   * entry; `revoke(token)` removes it. The store keeps the token's SHA-256,
   * never the token.
   * @throws {OpaqueTokenRejectedError} `code` `invalid_token` or `expired`.
   * @throws {OpaqueStoreError} `code` `full` or `disabled`.
   * @throws {TypeError} when `token` is not a string, or `entry` not an
   *   object of the members of `OpaqueEntry` with values of their types.
   */
  insertOpaque(token: string, entry: OpaqueEntry): void
  /**
   * Turns an RFC 7662 introspection response the host fetched for a token
   * into a principal, as `validate` does for a JWT: `active` must be true,
   * `exp`/`nbf` are checked with the leeway, `iss` (when present) must be a
   * configured issuer and `aud` (when present) this resource; then
   * `auth.required_scopes` apply. Pass the response body as text (used as
   * it is: a repeated member or text that is not JSON is `malformed`) or as
   * the parsed object. Not cached.
   * @throws {InvalidTokenError} 401, `reason` says why (`inactive`, `expired`, `malformed`, …).
   * @throws {InsufficientScopeError} 403, for `auth.required_scopes`.
   * @throws {TypeError} when `response` is neither a string nor an object.
   */
  validateIntrospection(response: string | object): Principal
  /**
   * Replaces an issuer's JWK Set atomically (key rotation; the host fetches
   * it). A bad set leaves the old one in place.
   * @throws {ConfigError}
   */
  setJwks(issuer: string, jwks: string | object): void
  /** The RFC 9728 protected-resource metadata document. */
  metadataDocument(): ProtectedResourceMetadata
  /** The path the metadata document is served at, e.g. `/.well-known/oauth-protected-resource/mcp`. */
  metadataPath(): string
  /** The full URL of the metadata document (the challenge's `resource_metadata`). */
  metadataUrl(): string
  /** This server's canonical resource URI. */
  resource(): string
  /**
   * Registers the audit callback, replacing any earlier one; `null`
   * removes it. The core reports events on the authorizing thread through a
   * napi thread-safe function; the callback runs on the event loop right
   * after, without blocking authorization and without keeping the process
   * alive. A callback that throws becomes a process warning.
   */
  onAudit(callback: ((event: AuditEvent) => void) | null): void
  /** Takes the audit events kept in the ring, oldest first. */
  drainAudit(): AuditEvent[]
  /** A snapshot of the counters. */
  counters(): Counters
  /** Every counter in the Prometheus text format, for a scrape endpoint. */
  metricsText(): string
  /**
   * Checks and counts one rate limit for a raw key, without
   * authentication: the rule named `rule`, or the default limit.
   * @throws {InvalidRequestError} for an unknown rule or a bad cost.
   */
  checkRateLimit(key: string, options?: { cost?: number | null; rule?: string | null }): RateDecision
}

/** Bearer-token validation alone, from the `auth` object of a configuration. */
export declare class TokenValidator {
  /**
   * @param auth the `auth` object of config.md (text or object)
   * @param resource this server's resource URI, the default audience
   * @throws {ConfigError}
   */
  constructor(auth: string | object, resource: string, options?: ClockOptions)
  /**
   * Validates a bare token.
   * @throws {InvalidTokenError}
   * @throws {InsufficientScopeError}
   */
  validate(token: string): Principal
  /** Revokes a token until it would have expired anyway (an opaque token: removes it from the store). */
  revoke(token: string): void
  /**
   * Stores an opaque token the host issued itself (needs `opaque_tokens:
   * true` in `auth`), as `Guard.insertOpaque` does.
   * @throws {OpaqueStoreError}
   * @throws {TypeError}
   */
  insertOpaque(token: string, entry: OpaqueEntry): void
  /**
   * Turns an RFC 7662 introspection response (text or parsed object) into a
   * principal, as `Guard.validateIntrospection` does (`tags` stay empty: they
   * come from the Guard).
   * @throws {InvalidTokenError}
   * @throws {InsufficientScopeError}
   * @throws {TypeError}
   */
  validateIntrospection(response: string | object): Principal
  /** Replaces an issuer's JWK Set (key rotation). */
  setJwks(issuer: string, jwks: string | object): void
}

/** A parsed 1MCP tag filter. */
export declare class TagFilter {
  private constructor()
  /**
   * 1MCP's `tags` parameter: a comma list meaning OR.
   * @throws {InvalidRequestError} reason `invalid_filter`, with 1MCP's message.
   */
  static parseTags(list: string): TagFilter
  /**
   * 1MCP's `tag-filter` parameter: `web AND (api OR db)`, with `NOT`/`!`,
   * `&&`, `||` and `,`.
   * @throws {InvalidRequestError}
   */
  static parseExpression(expression: string): TagFilter
  /**
   * A preset's `tag_query` object, e.g. `{ $or: [{ tag: 'web' }, { tag: 'db' }] }`.
   * @throws {InvalidRequestError}
   */
  static fromQuery(query: object): TagFilter
  /** Whether a server with these tags matches. */
  matches(serverTags: string[]): boolean
  /** The normalised tags the filter mentions, first-seen order. */
  tags(): string[]
  /** The filter in the advanced syntax. */
  toString(): string
}

/** The result of `validateScopes`. */
export interface ScopeValidation {
  /** Whether every requested scope is valid and available. */
  ok: boolean
  /** The normalised scopes (`[]` when `ok` is false). */
  scopes: string[]
  /** 1MCP's messages, one per problem. */
  errors: string[]
}

/**
 * Checks requested scopes against the tags a server offers, as 1MCP's
 * authorization server does. An empty request is valid and gets every
 * available `tag:` scope.
 */
export declare function validateScopes(requested: string[], availableTags: string[]): ScopeValidation
/** The tags named by `tag:` scopes, normalised, without repeats. */
export declare function scopesToTags(scopes: string[]): string[]
/** `tag:<t>` for each tag. */
export declare function tagsToScopes(tags: string[]): string[]

/** A rate limiter's settings. */
export interface RateLimiterOptions extends ClockOptions {
  /** `fixed_window` (default), `sliding_window` or `token_bucket`. */
  algorithm?: 'fixed_window' | 'sliding_window' | 'token_bucket'
  /** Requests per window. */
  limit: number
  /** The window in seconds. */
  windowSeconds: number
  /** `token_bucket` only: requests at once (default `limit`). */
  burst?: number
  /** Keys tracked at most (default 100000); memory stays bounded. */
  maxKeys?: number
}

/** One keyed rate limiter: one algorithm, one quota, bounded memory. */
export declare class RateLimiter {
  /** @throws {ConfigError} naming the offending setting. */
  constructor(options: RateLimiterOptions)
  /**
   * Checks a request of `cost` (default 1; `null` reads as absent) for `key`
   * and counts it when it passes. Any string is a key, read whole and exact
   * as UTF-8 (a lone surrogate reads as U+FFFD).
   * @throws {InvalidRequestError} for a cost that is not a whole number.
   * @throws {TypeError} with `code` `StringExpected` for a key that is not
   *   a string, `NumberExpected` for a cost that is not a number.
   */
  check(key: string, cost?: number | null): RateDecision
  /** What a request of cost 1 would get now, counting nothing. */
  peek(key: string): RateDecision
  /** Gives `key` its full quota back. */
  reset(key: string): void
  /** How many keys are tracked now. */
  readonly trackedKeys: number
}

/** The fields every mcpguard error carries. */
export interface GuardErrorFields {
  code?: string
  reason?: ReasonCode | null
  status?: number | null
  wwwAuthenticate?: string | null
}

/**
 * Base class of every error mcpguard throws. Denials from `authorize` are
 * decisions, not errors.
 */
export declare class GuardError extends Error {
  constructor(message: string, fields?: GuardErrorFields)
  /** The OAuth error (`invalid_token`, …) or `invalid_configuration`. */
  readonly code: string
  /** The mcpguard reason code, or `null`. */
  readonly reason: ReasonCode | null
  /** The HTTP status to answer with, or `null`. */
  readonly status: number | null
  /** The `WWW-Authenticate` challenge to send, or `null`. */
  readonly wwwAuthenticate: string | null
}
/** A token was refused (401). */
export declare class InvalidTokenError extends GuardError {}
/** A valid token lacks a scope this resource requires (403). */
export declare class InsufficientScopeError extends GuardError {}
/** A rate limit refused the request (429). */
export declare class RateLimitedError extends GuardError {
  /** Seconds until the request would pass, or `null`. */
  readonly retryAfter: number | null
}
/** A request or argument the Guard cannot act on (400). */
export declare class InvalidRequestError extends GuardError {}
/** A configuration was refused. */
export declare class ConfigError extends GuardError {
  /** The JSON path of the offending value, e.g. `rate_limit.rules[1].limit`. */
  readonly path: string
}

/**
 * The opaque-token store refused an entry (`insertOpaque`); `code` says why.
 * `status` is 503 for a full store, otherwise `null`; `reason` is `null`.
 */
export declare class OpaqueStoreError extends GuardError {
  /** `full`, `invalid_token`, `expired` or `disabled` (`auth.opaque_tokens` is off). */
  readonly code: OpaqueStoreErrorCode
}

/**
 * The opaque-token store refused an entry for the entry's own fault: a bad
 * token text or an entry already expired. An `OpaqueStoreError` too.
 */
export declare class OpaqueTokenRejectedError extends OpaqueStoreError {
  /** `invalid_token` or `expired`. */
  readonly code: OpaqueTokenRejectedCode
}

/** The error a refused decision stands for, for hosts that prefer to throw. */
export declare function errorFromDecision(decision: Decision): GuardError
