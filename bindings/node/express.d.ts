/**
 * `mcpguard/express`: Connect/Express middleware over the core's HTTP entry
 * point (`guard.authorizeHttp`).
 *
 * ```js
 * app.use(guardMiddleware(guard, { server: 'filesystem' }))
 * ```
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import type { Decision, Guard, ListingItems } from './index'

/** A request as the middleware sees it (Express's `Request` is one). */
export interface GuardedRequest extends IncomingMessage {
  /** Express's full URL: its path and raw query are what the core reads. */
  originalUrl?: string
  /**
   * The parsed body, when a parser ran first; on a forwarded request whose
   * body the middleware read itself, the body parsed as JSON.
   */
  body?: unknown
  /**
   * The body's bytes as a parser read them (`express.json({ verify:
   * keepRawBody })`), or as the middleware read them.
   */
  rawBody?: Buffer
  /** Set on an allowed request that carried a token, as the SDK's `requireBearerAuth` does. */
  auth?: AuthInfo
  /** The Guard's decision of an allowed request. */
  mcpguard?: Decision | null
}

/** The `next` callback of Connect/Express middleware. */
export type NextFunction = (error?: unknown) => void

/** Middleware in the Connect/Express shape. */
export type Middleware = (req: any, res: ServerResponse, next: NextFunction) => void

/** Options of `guardMiddleware`: the core's HTTP options, and the request functions of the host. */
export interface GuardMiddlewareOptions {
  /**
   * The MCP server behind this endpoint: a name, or a function of the
   * request (routing requests to servers; `null`/`undefined` for none).
   */
  server?: string | ((req: GuardedRequest) => string | null | undefined)
  /**
   * Read `POST` bodies for the tools they call (a batch is one decision)
   * and the listings they ask for. Default: on when there is a server.
   * The middleware reads the raw stream itself when no parser ran; after
   * a parser, it takes `req.rawBody` (see `keepRawBody`), else `req.body`
   * re-serialised; a body consumed without either is the core's 500.
   */
  readBody?: boolean
  /** The older name of `readBody`. */
  toolFromBody?: boolean
  /** The largest body read (default 4 MiB); a larger one is a 400. */
  maxBodyBytes?: number
  /** Answer the metadata route at `guard.metadataPath()` (default true). */
  serveMetadata?: boolean
  /** How listed items map to servers (default: all belong to `server`). */
  listingItems?: ListingItems | null
  /**
   * The rate-limit key the Guard falls back to (after the client id and
   * the subject). Default: the socket's remote address; `X-Forwarded-For`
   * is not trusted unless this function reads it.
   */
  key?: (req: GuardedRequest) => string | null | undefined
  /** Rate-limit cost: a whole number ≥ 1 or a function of the request (default 1). */
  cost?: number | ((req: GuardedRequest) => number)
  /**
   * Decide on mcpguard's own threads (`guard.authorizeHttpAsync`) instead of
   * on the event loop, so that a round trip to Redis (or to an
   * introspection endpoint) does not hold the loop. Default:
   * `guard.waitsOnNetwork()`, on exactly when a decision may wait on the
   * network; with everything in process the synchronous call is faster.
   */
  offload?: boolean
}

/**
 * Hands each request to `guard.authorizeHttp` and does what the core
 * says: sends its response as it is (the metadata document; a 400, 401,
 * 403 or 429 refusal with its headers and JSON body; a 500 for a body the
 * host consumed), or passes the request on with the core's headers added
 * to the application's response, `req.auth` and `req.mcpguard`. For a
 * listing request (`tools/list`, …) the application's response (JSON, or
 * the SSE stream the SDK ends) is buffered, filtered by the core and sent
 * with its Content-Length (or the core's 502). CORS preflights pass
 * through untouched.
 * @throws {TypeError} for an unknown option or a function option that is not one.
 * @throws {ConfigError} for options the core refuses.
 */
export declare function guardMiddleware(guard: Guard, options?: GuardMiddlewareOptions): Middleware

/**
 * Answers the RFC 9728 metadata route as the core builds it (GET, HEAD,
 * CORS preflight; 405 otherwise). For hosts that protect their endpoint
 * with the SDK's `requireBearerAuth`; `guardMiddleware` answers the route
 * by itself. Mount it at `guard.metadataPath()`.
 */
export declare function metadataHandler(guard: Guard): Middleware

/**
 * The `verify` function of `express.json({ verify: keepRawBody })`: keeps
 * the bytes the parser read as `req.rawBody`, so that the Guard reads
 * exactly the body the application does.
 */
export declare function keepRawBody(req: IncomingMessage, res: ServerResponse, buf: Buffer): void
