'use strict'
// `RateLimiter.check` runs on plain Node-API calls (src/fastcall.rs): the
// key is read onto the stack in one call when it is short and on the heap
// otherwise. These tests pin down that every key is read whole and exact,
// whatever its length and characters, by comparing with `peek`, which
// reads its key through napi-rs's own string conversion; and that argument
// errors stay typed.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')

const { RateLimiter, ManualClock, InvalidRequestError } = require('mcpguard')
const native = require(path.join(__dirname, '..', 'native.js'))

const LIMIT = 1000

function limiter() {
  return new RateLimiter({ limit: LIMIT, windowSeconds: 60, clock: new ManualClock(1767225600) })
}

/** `check(key)` counts on the very key `peek` reads, and on nothing shorter. */
function countsExactly(l, key) {
  const before = l.peek(key).remaining
  const d = l.check(key)
  assert.equal(d.allowed, true)
  assert.equal(d.remaining, before - 1, `check and peek disagree on a key of ${key.length} units`)
  assert.equal(l.peek(key).remaining, before - 1)
}

// 1-, 2-, 3- and 4-byte UTF-8 characters (the last one two UTF-16 units).
const CHARACTERS = ['a', 'é', '€', '😀']

test('keys around the one-call buffer (127 UTF-16 units) are read whole', () => {
  for (const ch of CHARACTERS) {
    for (let n = 110; n <= 140; n++) {
      const l = limiter()
      const prefix = 'k'.repeat(n)
      // The character last, so a cut anywhere near the boundary loses it
      // (or splits it, for the surrogate pair).
      countsExactly(l, prefix + ch)
      assert.equal(l.peek(prefix).remaining, LIMIT, `a key of ${n} + ${ch} was cut`)
      countsExactly(l, prefix + ch + ch)
      assert.equal(l.peek(prefix + ch).remaining, LIMIT - 1)
    }
  }
})

test('keys of one repeated character are read whole at every length up to past the buffer', () => {
  for (const ch of CHARACTERS) {
    const l = limiter()
    for (let n = 1; n <= 300; n++) countsExactly(l, ch.repeat(n))
    for (let n = 1; n <= 300; n++) assert.equal(l.peek(ch.repeat(n)).remaining, LIMIT - 1, `${ch} x ${n} counted once`)
  }
})

test('long keys, mixed text, the empty key and lone surrogates read as napi-rs reads them', () => {
  const l = limiter()
  for (const key of ['', '203.0.113.7', 'x'.repeat(10000), '😀'.repeat(5000), 'a€😀é'.repeat(100), `${'k'.repeat(126)}😀`]) {
    countsExactly(l, key)
  }
  // A lone surrogate is U+FFFD in UTF-8, as napi-rs's String reads it.
  for (const key of ['\uD800', 'a\uDC00b', `${'k'.repeat(126)}\uD83D`, `${'k'.repeat(200)}\uD83D`]) {
    countsExactly(l, key)
    assert.equal(l.peek(key.replace(/[\uD800-\uDFFF]/g, '\uFFFD')).remaining, LIMIT - 1)
  }
})

test('check keeps its errors typed and reads null and undefined costs as absent', () => {
  const l = limiter()
  for (const bad of [3, undefined, null, {}, Symbol('k')]) {
    assert.throws(
      () => l.check(bad),
      (e) => e instanceof TypeError && e.code === 'StringExpected',
      String(bad),
    )
  }
  for (const bad of ['x', {}, true, 1n]) {
    assert.throws(
      () => l.check('k', bad),
      (e) => e instanceof TypeError && e.code === 'NumberExpected',
      String(bad),
    )
  }
  assert.throws(() => l.check(3, 'x'), (e) => e.code === 'StringExpected', 'the key is checked first')
  for (const bad of [1.5, -1, Number.NaN, Infinity]) assert.throws(() => l.check('k', bad), InvalidRequestError)
  assert.equal(l.peek('k').remaining, LIMIT, 'a refused call counts nothing')
  assert.equal(l.check('k', null).remaining, LIMIT - 1)
  assert.equal(l.check('k', undefined).remaining, LIMIT - 2)
  assert.equal(l.check('k', 10).remaining, LIMIT - 12)
  const never = l.check('k', LIMIT + 1)
  assert.deepEqual([never.allowed, never.never, never.retryAfter], [false, true, null])
})

test('each check returns a new object with the figures of that check', () => {
  const clock = new ManualClock(1767225600)
  const l = new RateLimiter({ limit: 2, windowSeconds: 60, clock })
  const first = l.check('a')
  const second = l.check('a')
  const denied = l.check('a')
  assert.deepEqual(first, { allowed: true, limit: 2, remaining: 1, reset: 60, retryAfter: null, never: false, policy: 'default' })
  assert.deepEqual([second.allowed, second.remaining], [true, 0])
  assert.deepEqual([denied.allowed, denied.remaining, denied.retryAfter], [false, 0, 60])
  assert.notEqual(first, second)
})

test('limiters do not share their figures', () => {
  const a = new RateLimiter({ limit: 5, windowSeconds: 60 })
  const b = new RateLimiter({ limit: 7, windowSeconds: 60 })
  const da = a.check('k')
  const db = b.check('k')
  assert.deepEqual([da.limit, da.remaining, db.limit, db.remaining], [5, 4, 7, 6])
})

test('the results layout for runtimes without external buffers gives the same figures', () => {
  const l = new native.RateLimiter({ limit: 3, windowSeconds: 60 }, new ManualClock(1767225600))
  for (const external of [true, false]) {
    const [check, out] = l.checker(external)
    assert.ok(out instanceof Float64Array && out.length === 6)
    l.reset('k')
    assert.equal(check('k'), undefined)
    assert.deepEqual(Array.from(out), [3, 2, 60, Number.NaN, 0, 1])
    check('k', 2)
    check('k')
    assert.deepEqual(Array.from(out), [3, 0, 60, 60, 0, 0])
    assert.throws(() => check(1), TypeError)
  }
})
