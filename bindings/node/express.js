'use strict'
// `mcpguard/express`: Connect/Express middleware that authorizes every
// request with the full Guard (token, tags, rate limit) and serves the
// RFC 9728 metadata document.
//
//   app.use(express.json())
//   app.use(guardMiddleware(guard, { server: 'filesystem', toolFromBody: true }))
//
// It uses only Node's `req`/`res` (plus `req.body` when a body parser ran),
// so it needs no particular Express version and works with plain `http`.

const { authInfoOf, bearerToken } = require('./authinfo.js')
const native = require('./native.js')

const PREFLIGHT_HEADERS = 'Authorization, Content-Type, MCP-Protocol-Version'

function urlOf(req) {
  return new URL(req.originalUrl || req.url || '/', 'http://localhost')
}

function sendJson(res, status, body, headers) {
  res.statusCode = status
  for (const [name, value] of headers) res.setHeader(name, value)
  res.setHeader('Content-Type', 'application/json')
  res.end(JSON.stringify(body))
}

/**
 * A handler that serves the Guard's metadata document (GET, HEAD) with
 * `Access-Control-Allow-Origin: *` and answers CORS preflight for it, so
 * browser-based MCP clients can discover the authorization server. Mount it
 * at `guard.metadataPath()`; `guardMiddleware` does so by itself.
 */
function metadataHandler(guard) {
  const body = JSON.stringify(guard.metadataDocument())
  return function serveMetadata(req, res) {
    res.setHeader('Access-Control-Allow-Origin', '*')
    if (req.method === 'OPTIONS') {
      res.statusCode = 204
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS')
      res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] || PREFLIGHT_HEADERS)
      res.setHeader('Access-Control-Max-Age', '86400')
      res.end()
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD, OPTIONS')
      sendJson(res, 405, { error: 'method_not_allowed', error_description: `${req.method} is not allowed here` }, [])
      return
    }
    res.statusCode = 200
    res.setHeader('Content-Type', 'application/json')
    res.setHeader('Cache-Control', 'public, max-age=3600')
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

/** The names of the tools a JSON-RPC body calls (`tools/call`), batch or single; read by the core. */
function toolsCalled(body) {
  return body == null ? [] : native.toolsCalled(body)
}

function valueOf(option, req, what) {
  if (option == null) return undefined
  if (typeof option === 'function') return option(req) ?? undefined
  if (typeof option === 'string') return option
  throw new TypeError(`guardMiddleware: ${what} must be a string or a function of the request`)
}

/**
 * Middleware that authorizes each request with the Guard and answers
 * refusals itself: 400/401/403/429 with a JSON body `{ error,
 * error_description }` and every header of the decision (`WWW-Authenticate`,
 * rate-limit headers, `Retry-After`). An allowed request gets the
 * decision's headers, `req.auth` (the SDK's `AuthInfo`, when a token was
 * presented) and `req.mcpguard` (the decision), then goes on.
 *
 * Inputs: the filter from 1MCP's query parameters (`tags`, `tag-filter`,
 * `preset`); the server from `options.server` (a name or a function of the
 * request); the tool from a JSON-RPC `tools/call` body when
 * `options.toolFromBody` is on (each call of a batch is authorized), or
 * from `options.tool`; the rate-limit key from `options.key` (a function),
 * else the socket's address (`X-Forwarded-For` is not trusted unless the
 * host's function reads it); the cost from `options.cost`.
 *
 * Requests for `guard.metadataPath()` are answered with the metadata
 * document (see `metadataHandler`). CORS preflight (`OPTIONS`) requests for
 * other paths carry no credentials and are passed on untouched.
 */
function guardMiddleware(guard, options = {}) {
  if (!guard || typeof guard.authorize !== 'function') throw new TypeError('guardMiddleware needs a mcpguard Guard')
  const { server, tool, toolFromBody = false, key, cost, serveMetadata = true } = options
  if (key != null && typeof key !== 'function') throw new TypeError('guardMiddleware: key must be a function of the request')
  if (cost != null && typeof cost !== 'function' && typeof cost !== 'number') {
    throw new TypeError('guardMiddleware: cost must be a number or a function of the request')
  }
  const metadataPath = guard.metadataPath()
  const serve = metadataHandler(guard)
  const resource = new URL(guard.resource())

  return function mcpguard(req, res, next) {
    let url
    try {
      url = urlOf(req)
    } catch {
      url = new URL('http://localhost/')
    }
    if (serveMetadata && url.pathname === metadataPath) {
      serve(req, res)
      return
    }
    if (req.method === 'OPTIONS') {
      next()
      return
    }
    let decision
    try {
      const request = {
        authorization: req.headers.authorization ?? null,
        server: valueOf(server, req, 'server') ?? null,
        query: url.searchParams,
        key: key ? (key(req) ?? null) : (req.socket && req.socket.remoteAddress) || null,
        cost: typeof cost === 'function' ? cost(req) : (cost ?? null),
      }
      const tools = toolFromBody ? toolsCalled(req.body) : []
      const explicit = valueOf(tool, req, 'tool')
      if (explicit !== undefined) tools.unshift(explicit)
      if (tools.length === 0) {
        decision = guard.authorize(request)
      } else {
        for (const name of tools) {
          decision = guard.authorize({ ...request, tool: name })
          if (!decision.allowed) break
        }
      }
    } catch (e) {
      next(e)
      return
    }
    if (!decision.allowed) {
      sendJson(res, decision.status, { error: decision.error, error_description: decision.errorDescription }, decision.headers)
      return
    }
    for (const [name, value] of decision.headers) res.setHeader(name, value)
    if (decision.principal !== null && req.headers.authorization) {
      req.auth = authInfoOf(bearerToken(req.headers.authorization), decision.principal, resource)
    }
    req.mcpguard = decision
    next()
  }
}

module.exports = { guardMiddleware, metadataHandler, toolsCalled }
