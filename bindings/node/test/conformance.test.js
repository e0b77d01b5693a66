'use strict'
// The conformance vectors (spec/conformance.md) through the public API of
// `mcpguard`, one test per case, in order, against one Guard per file on a
// manual clock. Mirrors core/tests/conformance.rs: partial match, `_set`
// keys compare as sets, numbers numerically, `error_contains` as a
// substring, `headers_contain` / `headers_not_contain`. An unknown op fails.
// The ops beyond the spec (`insert_opaque`, `introspect`) are those of
// conformance/README.md.

const { describe, it } = require('node:test')
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
    doc.cases.forEach((c, i) => {
      it(c.name ?? `#${i}`, () => {
        if (setupError) throw new Error(`config refused: ${setupError.message}`)
        const actual = run(guard, clock, c)
        if (c.expect != null) partialMatch(c.expect, actual, '')
      })
    })
  })
}
