'use strict'
// `mcpguard/express`: Connect/Express middleware over the core's HTTP entry
// point (`guard.authorizeHttp`). It only converts: it hands the core the raw
// request (method, path, raw query, every header as Node read it, the peer
// address, the body bytes), sends the core's response as it is, or passes
// the request on with the core's headers added to the application's
// response, filtering listing responses through the core. It decides
// nothing itself: no header rule, no query rule, no body parsing to find
// tools, no cache.
//
//   app.use(guardMiddleware(guard, { server: 'filesystem' }))
//
// It uses only Node's `req`/`res` (plus `req.body` / `req.rawBody` when a
// body parser ran first), so it needs no particular Express version and
// works with plain `http`.

const { authInfoOf } = require('./authinfo.js')
const { HttpOptions, HttpBody } = require('./index.js')
// The application's response headers a filtered listing drops (the core's list).
const FILTERED_BODY_DROPS = require('./native.js').filteredBodyDrops()

/**
 * A `verify` function for `express.json({ verify: keepRawBody })`: keeps
 * the bytes the parser read as `req.rawBody`, so that the Guard reads
 * exactly the body the application will (without it, the middleware
 * re-serialises `req.body`, which loses what JSON.parse dropped).
 */
function keepRawBody(req, _res, buf) {
  req.rawBody = buf
}

/** The request target split into the path and the raw query (without `?`). */
function target(req) {
  const url = req.originalUrl || req.url || '/'
  const q = url.indexOf('?')
  return q === -1 ? [url, ''] : [url.slice(0, q), url.slice(q + 1)]
}

/** Sets `[name, value]` headers, repeated names as one list, replacing what was set before under those names. */
function setHeaders(res, headers) {
  const byName = new Map()
  for (const [name, value] of headers) {
    const key = name.toLowerCase()
    const entry = byName.get(key)
    if (entry === undefined) byName.set(key, [name, [value]])
    else entry[1].push(value)
  }
  for (const [name, values] of byName.values()) res.setHeader(name, values.length === 1 ? values[0] : values)
}

/** Sends a response the core built, as it is. */
function send(res, status, headers, body) {
  res.statusCode = status
  setHeaders(res, headers)
  res.end(body)
}

/** A chunk written to a response, as bytes. */
function bytesOf(chunk, encoding) {
  if (Buffer.isBuffer(chunk)) return chunk
  if (chunk instanceof Uint8Array) return Buffer.from(chunk)
  return Buffer.from(String(chunk), typeof encoding === 'string' ? encoding : 'utf8')
}

/**
 * The body as the core needs it, handed to `done(body, read)`: a body a
 * parser already read (`req.rawBody`, else `req.body` re-serialised), or
 * the raw stream read here (`read` true) up to `max` bytes and one more
 * (`HttpBody.tooLarge` past it), or `HttpBody.unavailable` when the stream
 * was consumed and nothing kept the body.
 */
function takeBody(req, max, done, fail) {
  if (Buffer.isBuffer(req.rawBody)) return done(req.rawBody, false)
  if (req._body === true || req.readableDidRead || req.readableEnded) {
    const b = req.body
    if (b === undefined || b === null) return done(HttpBody.unavailable, false)
    if (Buffer.isBuffer(b)) return done(b, false)
    if (typeof b === 'string') return done(Buffer.from(b, 'utf8'), false)
    return done(Buffer.from(JSON.stringify(b), 'utf8'), false)
  }
  const declared = Number(req.headers['content-length'])
  if (declared > max) return done(HttpBody.tooLarge, false)
  const chunks = []
  let size = 0
  let finished = false
  const finish = (result, error) => {
    if (finished) return
    finished = true
    req.off('data', onData)
    req.off('end', onEnd)
    req.off('error', onError)
    if (error) fail(error)
    else done(result, true)
  }
  const onData = (chunk) => {
    size += chunk.length
    if (size > max) {
      req.pause()
      finish(HttpBody.tooLarge)
      return
    }
    chunks.push(chunk)
  }
  const onEnd = () => finish(Buffer.concat(chunks, size))
  const onError = (error) => finish(null, error)
  req.on('data', onData)
  req.on('end', onEnd)
  req.on('error', onError)
}

/**
 * Buffers what the application writes to `res` (status, headers, body:
 * JSON, or an SSE stream it ends), then sends the body the core filtered,
 * with its Content-Length, or the core's 502 when it cannot be read.
 */
function filterResponse(res, decision) {
  const { writeHead, write, end, flushHeaders } = res
  const chunks = []
  let ended = false
  const restore = () => {
    res.writeHead = writeHead
    res.write = write
    res.end = end
    res.flushHeaders = flushHeaders
  }
  res.writeHead = function bufferedWriteHead(status, reason, headers) {
    if (typeof reason !== 'string') {
      headers = reason
      reason = undefined
    }
    res.statusCode = status
    if (reason !== undefined) res.statusMessage = reason
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) res.appendHeader(headers[i], headers[i + 1])
    } else if (headers) {
      for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value)
    }
    return res
  }
  res.flushHeaders = function bufferedFlushHeaders() {}
  res.write = function bufferedWrite(chunk, encoding, callback) {
    if (typeof encoding === 'function') callback = encoding
    if (chunk != null) chunks.push(bytesOf(chunk, encoding))
    if (typeof callback === 'function') process.nextTick(callback)
    return true
  }
  res.end = function bufferedEnd(chunk, encoding, callback) {
    if (typeof chunk === 'function') {
      callback = chunk
      chunk = undefined
    } else if (typeof encoding === 'function') {
      callback = encoding
    }
    if (ended) return res
    ended = true
    if (chunk != null) chunks.push(bytesOf(chunk, encoding))
    restore()
    const type = res.getHeader('content-type')
    const filtered = decision.filterResponse(type == null ? null : String(type), Buffer.concat(chunks))
    if (filtered.ok) {
      for (const name of FILTERED_BODY_DROPS) res.removeHeader(name)
      res.setHeader('Content-Length', String(filtered.body.length))
      return res.end(filtered.body, callback)
    }
    // The application's response cannot be read: nothing of it is sent.
    for (const name of res.getHeaderNames()) res.removeHeader(name)
    const r = filtered.response
    res.statusCode = r.status
    setHeaders(res, r.headers)
    return res.end(r.body, callback)
  }
}

const OPTION_NAMES = new Set(['server', 'readBody', 'toolFromBody', 'maxBodyBytes', 'serveMetadata', 'listingItems', 'key', 'cost', 'offload'])

/**
 * Middleware that hands each request to `guard.authorizeHttp` and does
 * what the core says: sends its response (the metadata document, a 400,
 * 401, 403, 429 refusal, a 500 for a body the host consumed), or passes the
 * request on with the core's headers added to the application's response,
 * `req.auth` (the SDK's `AuthInfo`, when a token was presented) and
 * `req.mcpguard` (the decision). A request for a listing (`tools/list`, …)
 * has the application's response filtered by the core before it is sent.
 * See express.d.ts for the options.
 */
function guardMiddleware(guard, options = {}) {
  if (!guard || typeof guard.authorizeHttp !== 'function') throw new TypeError('guardMiddleware needs a mcpguard Guard')
  for (const name of Object.keys(options ?? {})) {
    if (!OPTION_NAMES.has(name)) {
      const hint = name === 'tool' ? ': the core reads the tools a request calls from its body (readBody)' : ''
      throw new TypeError(`guardMiddleware: unknown option ${name}${hint}`)
    }
  }
  const { server, key, cost, toolFromBody, readBody = toolFromBody, maxBodyBytes, serveMetadata, listingItems } = options ?? {}
  // Off the event loop when a decision may wait on the network (the core says).
  const offload = options?.offload ?? (typeof guard.waitsOnNetwork === 'function' && guard.waitsOnNetwork())
  if (typeof offload !== 'boolean') throw new TypeError('guardMiddleware: offload must be a boolean')
  if (server != null && typeof server !== 'string' && typeof server !== 'function') {
    throw new TypeError('guardMiddleware: server must be a string or a function of the request')
  }
  if (key != null && typeof key !== 'function') throw new TypeError('guardMiddleware: key must be a function of the request')
  if (cost != null && typeof cost !== 'function' && typeof cost !== 'number') {
    throw new TypeError('guardMiddleware: cost must be a number or a function of the request')
  }
  const base = { readBody, maxBodyBytes, serveMetadata, listingItems, cost: typeof cost === 'number' ? cost : undefined }
  const resource = new URL(guard.resource())

  // One HttpOptions per server (a `server` function routes requests to
  // servers): built once each, like the options of a fixed endpoint. What
  // the middleware itself reads of them (whether and how far to read the
  // body) is read once here: each is a native getter, about 0.4 us a read
  // even with the caches warm, and several times that between the
  // requests of a real app.
  const built = new Map()
  const optionsFor = (name) => {
    let o = built.get(name)
    if (o === undefined) {
      // A request routed to no server has no tools to authorize.
      const native = new HttpOptions(name === null && typeof server === 'function' ? { ...base, readBody: false } : { ...base, server: name ?? undefined })
      o = { native, readBody: native.readBody, maxBodyBytes: native.maxBodyBytes }
      if (built.size >= 1024) built.clear()
      built.set(name, o)
    }
    return o
  }
  // Options the core refuses are refused here, at mount time.
  const fixed = typeof server === 'function' ? null : optionsFor(server ?? null)
  if (fixed === null) new HttpOptions({ ...base, server: 'any' })

  return function mcpguard(req, res, next) {
    let opts
    let request
    try {
      opts = fixed ?? optionsFor(server(req) ?? null)
      const [path, query] = target(req)
      request = {
        method: req.method,
        path,
        query,
        headers: req.rawHeaders,
        peer: (req.socket && req.socket.remoteAddress) || null,
        key: key ? (key(req) ?? null) : null,
        cost: typeof cost === 'function' ? cost(req) : null,
        body: null,
      }
    } catch (e) {
      next(e)
      return
    }
    const decide = (body, read) => {
      request.body = body
      if (offload) {
        guard.authorizeHttpAsync(request, opts.native).then((d) => act(d, body, read), next)
        return
      }
      let d
      try {
        d = guard.authorizeHttp(request, opts.native)
      } catch (e) {
        next(e)
        return
      }
      act(d, body, read)
    }
    const act = (d, body, read) => {
      try {
        if (!take(d, body, read)) return
      } catch (e) {
        next(e)
        return
      }
      next()
    }
    // Does what the decision says; whether the request goes on to `next`.
    const take = (d, body, read) => {
      if (d.action === 'respond') {
        send(res, d.status, d.headers, d.body)
        return false
      }
      if (d.action === 'forward') {
        if (read && body.length > 0) {
          // Read here from the stream: hand it on as a body parser would
          // (express.json() then skips it, and the SDK's transport gets
          // `req.body`). The core accepted it as strict JSON.
          req.rawBody = body
          req.body = JSON.parse(body.toString('utf8'))
          req._body = true
        }
        setHeaders(res, d.headers)
        const principal = d.decision && d.decision.principal
        if (principal && d.token !== null) {
          req.auth = authInfoOf(d.token, principal, resource, d.acceptedUntil, d.effectiveScopes)
        }
        req.mcpguard = d.decision
        if (d.filtersResponse) filterResponse(res, d)
      }
      return true
    }
    if (req.method === 'POST' && opts.readBody) takeBody(req, opts.maxBodyBytes, decide, next)
    else decide(null, false)
  }
}

/**
 * A handler that answers the RFC 9728 metadata route as the core builds it
 * (GET, HEAD, CORS preflight; 405 otherwise), for hosts that protect their
 * endpoint with the SDK's `requireBearerAuth` instead of `guardMiddleware`
 * (which answers the route by itself). Mount it at `guard.metadataPath()`.
 */
function metadataHandler(guard) {
  if (!guard || typeof guard.authorizeHttp !== 'function') throw new TypeError('metadataHandler needs a mcpguard Guard')
  const path = guard.metadataPath().split('?')[0]
  const opts = new HttpOptions({ serveMetadata: true })
  return function serveMetadata(req, res) {
    const d = guard.authorizeHttp({ method: req.method, path, headers: req.rawHeaders }, opts)
    send(res, d.status, d.headers, d.body)
  }
}

module.exports = { guardMiddleware, metadataHandler, keepRawBody }
