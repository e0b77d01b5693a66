/**
 * `mcpguard/express`: Connect/Express middleware over a Guard.
 *
 * ```js
 * app.use(express.json())
 * app.use(guardMiddleware(guard, { server: 'filesystem', toolFromBody: true }))
 * ```
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import type { Decision, Guard } from './index'

/** A request as the middleware sees it (Express's `Request` is one). */
export interface GuardedRequest extends IncomingMessage {
  /** Express's full URL, used for the query parameters. */
  originalUrl?: string
  /** The parsed body (`express.json()`), read when `toolFromBody` is on. */
  body?: unknown
  /** Set on an allowed request that carried a token, as the SDK's `requireBearerAuth` does. */
  auth?: AuthInfo
  /** The decision of an allowed request. */
  mcpguard?: Decision
}

/** The `next` callback of Connect/Express middleware. */
export type NextFunction = (error?: unknown) => void

/** Middleware in the Connect/Express shape. */
export type Middleware = (req: any, res: ServerResponse, next: NextFunction) => void

/** Options of `guardMiddleware`. */
export interface GuardMiddlewareOptions {
  /** The target server: a name, or a function of the request (`undefined` for none). */
  server?: string | ((req: GuardedRequest) => string | null | undefined)
  /** The target tool: a name, or a function of the request. */
  tool?: string | ((req: GuardedRequest) => string | null | undefined)
  /**
   * Read the tool from a JSON-RPC `tools/call` body (`params.name`); every
   * call in a batch is authorized. Needs a JSON body parser before the
   * middleware, and `server`.
   */
  toolFromBody?: boolean
  /**
   * The fallback rate-limit key (the Guard keys by client id, then subject,
   * then this). Default: the socket's remote address; `X-Forwarded-For` is
   * not trusted unless this function reads it.
   */
  key?: (req: GuardedRequest) => string | null | undefined
  /** Rate-limit cost: a whole number ≥ 1 or a function of the request (default 1). */
  cost?: number | ((req: GuardedRequest) => number)
  /** Serve the metadata document at `guard.metadataPath()` (default true). */
  serveMetadata?: boolean
}

/**
 * Authorizes each request with the full Guard (token, tag access, rate
 * limit). A refusal is answered here: status 400/401/403/429, a JSON body
 * `{ error, error_description }` and every header of the decision
 * (`WWW-Authenticate`, rate-limit headers, `Retry-After`). An allowed
 * request gets the decision's headers, `req.auth` and `req.mcpguard`, and
 * goes on. The filter comes from 1MCP's query parameters `tags`,
 * `tag-filter` and `preset`. Requests for the metadata path are answered
 * with the document (CORS preflight included); other `OPTIONS` requests
 * pass through.
 */
export declare function guardMiddleware(guard: Guard, options?: GuardMiddlewareOptions): Middleware

/**
 * Serves the Guard's RFC 9728 metadata document (GET, HEAD) with
 * `Access-Control-Allow-Origin: *`, and answers CORS preflight for it.
 */
export declare function metadataHandler(guard: Guard): Middleware

/** The names of the tools a JSON-RPC body calls (`tools/call`), single message or batch. */
export declare function toolsCalled(body: unknown): string[]
