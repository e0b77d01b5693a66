'use strict'
// The conformance vectors (spec/conformance.md) through the public API of
// `mcpguard`, one test per case, in order, against one Guard per file on a
// manual clock. Mirrors core/tests/conformance.rs: partial match, `_set`
// keys compare as sets, numbers numerically, `error_contains` as a
// substring, `headers_contain` / `headers_not_contain`. An unknown op fails.
// The ops beyond the spec (`insert_opaque`, `introspect`) are those of
// conformance/README.md. Op `http` (conformance/http_edge.json) goes through
// the middleware this package ships: a real Express 5 app with
// `guardMiddleware` in front of a handler answering the case's `app`,
// called over loopback HTTP with the case's raw headers; transport headers
// (Date, Connection, Keep-Alive, Transfer-Encoding, X-Powered-By) are
// removed before comparing, as conformance/generator's `http_vectors` says.

const { describe, it, after } = require('node:test')
const http = require('node:http')
const express = require('express')
const { guardMiddleware } = require('mcpguard/express')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { Guard, ManualClock, TagFilter, OpaqueStoreError, validateScopes, scopesToTags } = require('mcpguard')

const dir = process.env.MCPGUARD_CONFORMANCE_DIR || path.join(__dirname, '..', '..', '..', 'conformance')
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()

it('the conformance folder holds vector files', () => {
  assert.ok(files.length > 0, `no vector files in ${dir}`)
})

/** camelCase keys of the binding's objects back to the vectors' snake_case. */
function snake(value) {
  if (Array.isArray(value)) return value.map(snake)
  if (value === null || typeof value !== 'object') return value
  const out = {}
  for (const [k, v] of Object.entries(value)) {
    out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = snake(v)
  }
  return out
}

/** A vector's opaque-token entry (snake_case members) as the binding's entry object. */
function entryOf(entry) {
  const out = {}
  for (const [k, v] of Object.entries(entry ?? {})) out[k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = v
  return out
}

/** What `validate` and `introspect` compare: the principal with `ok`, or the refusal. */
function principalResult(validate) {
  try {
    return { ...snake(validate()), ok: true }
  } catch (e) {
    if (!e.reason) throw e
    return { ok: false, status: e.status, error: e.code, reason: e.reason }
  }
}

/** A vector's request (config.md shape) as the binding's request object. */
function requestOf(r) {
  const out = { ...(r ?? {}) }
  if (out.filter && typeof out.filter === 'object') {
    const { tag_filter: tagFilter, ...rest } = out.filter
    out.filter = tagFilter === undefined ? rest : { ...rest, tagFilter }
  }
  return out
}

function parseFilter(c) {
  const kinds = ['tags', 'tag_filter', 'tag_query'].filter((k) => k in c)
  if (kinds.length !== 1) throw new Error(`a filter case needs exactly one of tags, tag_filter, tag_query; got ${kinds}`)
  if (kinds[0] === 'tags') return TagFilter.parseTags(c.tags)
  if (kinds[0] === 'tag_filter') return TagFilter.parseExpression(c.tag_filter)
  return TagFilter.fromQuery(c.tag_query)
}

function checkHeaders(decision, spec, present) {
  for (const [name, subs] of Object.entries(spec)) {
    const values = decision.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v)
    for (const sub of subs) {
      const found = values.some((v) => v.includes(sub))
      if (present && !found) throw new Error(`header ${name} should contain ${JSON.stringify(sub)}; got ${JSON.stringify(values)}`)
      if (!present && found) throw new Error(`header ${name} should not contain ${JSON.stringify(sub)}; got ${JSON.stringify(values)}`)
    }
  }
}

/** The vectors' snake_case keys as the middleware's camelCase options. */
function camel(value) {
  if (Array.isArray(value)) return value.map(camel)
  if (value === null || typeof value !== 'object') return value
  const out = {}
  for (const [k, v] of Object.entries(value)) out[k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = camel(v)
  return out
}

const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'x-powered-by'])

/**
 * The Express app that runs op `http` for one file: `guardMiddleware` with
 * the file's options in front of a handler answering the current case's
 * `app` with exactly its status, Content-Type, Content-Length and body. The
 * case's routing choice of server and its peer address reach the middleware
 * through its `server` and `key` functions (over loopback, every peer is
 * 127.0.0.1; the core keys by `key`, else the peer).
 */
function httpRunner(guard, options) {
  const o = camel(options ?? {})
  let current = null
  const app = express()
  app.use(
    guardMiddleware(guard, {
      ...o,
      server: () => current.request.server ?? o.server ?? null,
      key: () => current.request.peer ?? null,
    }),
  )
  app.use((req, res) => {
    const body = Buffer.from(current.app.body, 'utf8')
    res.statusCode = current.app.status
    res.setHeader('Content-Type', current.app.content_type)
    res.setHeader('Content-Length', String(body.length))
    for (const [name, value] of current.app.headers ?? []) res.setHeader(name, value)
    res.end(body)
  })
  let server = null
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const listening = () =>
    server ??
    (server = new Promise((resolve, reject) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
      s.on('error', reject)
    }))
  return {
    async run(c) {
      current = c
      const s = await listening()
      const r = c.request
      // Node's client adds no Host to a raw header list; HTTP/1.1 needs one.
      const headers = ['Host', `127.0.0.1:${s.address().port}`]
      // Each character of a vector's value is one byte: Node's client
      // writes header strings as Latin-1, so they go out as those bytes.
      for (const [name, value] of r.headers) headers.push(name, value)
      let body = null
      if (typeof r.body === 'string') body = Buffer.from(r.body, 'utf8')
      else if (typeof r.body_base64url === 'string') body = Buffer.from(r.body_base64url, 'base64url')
      const path = r.query ? `${r.path}?${r.query}` : r.path
      const res = await new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: s.address().port, method: r.method, path, headers, agent }, (res) => {
          const chunks = []
          res.on('data', (chunk) => chunks.push(chunk))
          res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }))
          res.on('error', reject)
        })
        req.on('error', reject)
        req.end(body ?? undefined)
      })
      const raw = res.res.rawHeaders
      const got = []
      for (let i = 0; i + 1 < raw.length; i += 2) {
        if (!TRANSPORT_HEADERS.has(raw[i].toLowerCase())) got.push([raw[i], Buffer.from(raw[i + 1], 'latin1').toString('utf8')])
      }
      return { status: res.res.statusCode, headers: got, body: res.body.toString('utf8') }
    },
    async close() {
      agent.destroy()
      if (server) await new Promise((resolve) => server.then((s) => s.close(() => resolve())))
    },
  }
}

/** Headers as (lower-case name, value), sorted stably by name. */
function normalizedHeaders(headers) {
  return headers.map(([n, v]) => [n.toLowerCase(), v]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

/** Whether `actual` is the expected response (conformance/generator's `http_vectors::compare`). */
function compareHttp(expect, actual) {
  assert.equal(actual.status, expect.status, 'status')
  assert.deepEqual(normalizedHeaders(actual.headers), normalizedHeaders(expect.headers), 'headers')
  assert.equal(actual.body, expect.body, 'body')
}

function run(guard, clock, c) {
  switch (c.op) {
    case 'validate':
      return principalResult(() => guard.validate(c.token))
    case 'introspect':
      // An object is passed as an object, a string as the response text.
      return principalResult(() => guard.validateIntrospection(c.response))
    case 'insert_opaque':
      try {
        guard.insertOpaque(c.token, entryOf(c.entry))
        return { ok: true }
      } catch (e) {
        if (!(e instanceof OpaqueStoreError)) throw e
        return { ok: false, error: e.code }
      }
    case 'authorize': {
      const decision = guard.authorize(requestOf(c.request))
      if (c.headers_not_contain) checkHeaders(decision, c.headers_not_contain, false)
      if (c.expect && c.expect.headers_contain) checkHeaders(decision, c.expect.headers_contain, true)
      return snake(decision)
    }
    case 'parse_filter':
      try {
        return { ok: true, tags: parseFilter(c).tags() }
      } catch (e) {
        return { ok: false, error: e.message }
      }
    case 'match_filter':
      return { match: parseFilter(c).matches(c.server_tags) }
    case 'validate_scopes':
      return validateScopes(c.requested, c.available_tags)
    case 'scopes_to_tags':
      return { tags: scopesToTags(c.scopes) }
    case 'rate_limit':
      return snake(guard.checkRateLimit(c.key, { cost: c.cost ?? 1, rule: c.rule ?? null }))
    case 'advance':
      clock.advance(c.seconds)
      return null
    case 'revoke':
      guard.revoke(c.token)
      return null
    case 'metadata':
      return { document: guard.metadataDocument() }
    default:
      throw new Error(`unknown op \`${c.op}\``)
  }
}

function partialMatch(expect, actual, where) {
  if (Array.isArray(expect)) {
    if (!Array.isArray(actual) || actual.length !== expect.length) {
      throw new Error(`${where}: expected ${JSON.stringify(expect)}, got ${JSON.stringify(actual)}`)
    }
    expect.forEach((e, i) => partialMatch(e, actual[i], `${where}[${i}]`))
    return
  }
  if (expect !== null && typeof expect === 'object') {
    for (const [k, v] of Object.entries(expect)) {
      if (k === 'headers_contain' && where === '') continue
      if (k.endsWith('_set')) {
        const base = k.slice(0, -4)
        const a = actual == null ? undefined : actual[base]
        const same =
          Array.isArray(a) &&
          a.length === v.length &&
          v.every((x) => a.some((y) => isDeepStrictEqual(x, y))) &&
          a.every((y) => v.some((x) => isDeepStrictEqual(x, y)))
        if (!same) throw new Error(`${where}.${base}: expected the set ${JSON.stringify(v)}, got ${JSON.stringify(a)}`)
        continue
      }
      if (k === 'error_contains') {
        const err = actual == null ? undefined : actual.error
        if (typeof err !== 'string' || !err.includes(v)) {
          throw new Error(`${where}.error: expected text containing ${JSON.stringify(v)}, got ${JSON.stringify(err)}`)
        }
        continue
      }
      const a = actual == null || actual[k] === undefined ? null : actual[k]
      partialMatch(v, a, `${where}.${k}`)
    }
    return
  }
  if (typeof expect === 'number') {
    if (typeof actual !== 'number' || Math.abs(actual - expect) > 1e-9) {
      throw new Error(`${where}: expected ${expect}, got ${JSON.stringify(actual)}`)
    }
    return
  }
  if (expect !== actual) throw new Error(`${where}: expected ${JSON.stringify(expect)}, got ${JSON.stringify(actual)}`)
}

const { isDeepStrictEqual } = require('node:util')

for (const file of files) {
  describe(file, () => {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))
    let clock
    let guard
    let setupError = null
    try {
      clock = new ManualClock(doc.clock)
      guard = Guard.fromJson(JSON.stringify(doc.config), { clock })
    } catch (e) {
      setupError = e
    }
    it('builds the Guard from the file config', () => {
      if (setupError) throw setupError
    })
    if (!Array.isArray(doc.cases)) {
      it('has a list of cases', () => assert.fail('`cases` must be a list'))
      return
    }
    let runner = null
    after(async () => {
      if (runner) await runner.close()
    })
    doc.cases.forEach((c, i) => {
      it(c.name ?? `#${i}`, async () => {
        if (setupError) throw new Error(`config refused: ${setupError.message}`)
        if (c.op === 'http') {
          if (c.advance != null) clock.advance(c.advance)
          runner ??= httpRunner(guard, doc.options)
          compareHttp(c.expect, await runner.run(c))
          return
        }
        const actual = run(guard, clock, c)
        if (c.expect != null) partialMatch(c.expect, actual, '')
      })
    })
  })
}
