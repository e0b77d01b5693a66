'use strict'
// The body of `createTokenVerifier`, given the SDK's error classes, and
// where those classes come from. The SDK's `requireBearerAuth` answers 401
// or 403 only for errors that are `instanceof` ITS classes (anything else is
// a 500), so they must come from the very copy of the SDK the host loads:
// the CommonJS entry (mcp.js) passes that copy's CommonJS build, the ESM
// entry (mcp.mjs) its ESM build. The copy is the one the host application
// resolves (its entry script's folder, then the working directory), tried
// before this package's own: an `npm link`ed or `file:` install of this
// package has an SDK of its own beside it (a dev dependency), which is not
// the host's.

const path = require('node:path')
const { createRequire } = require('node:module')
const errors = require('./errors.js')
const { authInfoOf } = require('./authinfo.js')

/** The SDK module the verifier needs. */
const SDK_ERRORS = '@modelcontextprotocol/sdk/server/auth/errors.js'

/** Files to resolve the SDK from, the host's first: its entry script, then the working directory. */
function hostRoots() {
  const roots = []
  const main = require.main && require.main.filename
  if (main) roots.push(main)
  if (process.argv[1]) roots.push(path.resolve(process.argv[1]))
  roots.push(path.join(process.cwd(), 'index.js'))
  return [...new Set(roots)]
}

/** The CommonJS path of the SDK's errors module as the host resolves it, or null. */
function resolveFromHost() {
  for (const root of hostRoots()) {
    try {
      return createRequire(root).resolve(SDK_ERRORS)
    } catch {
      // not resolvable from there: try the next root
    }
  }
  return null
}

/** The SDK's errors module the caller passed, checked for the two classes. */
function givenErrors(options) {
  const given = options == null ? null : options.sdkErrors
  if (given == null) return null
  if (typeof given.InvalidTokenError !== 'function' || typeof given.InsufficientScopeError !== 'function') {
    throw new TypeError('options.sdkErrors must be the SDK module @modelcontextprotocol/sdk/server/auth/errors.js')
  }
  return given
}

function makeTokenVerifier(guard, sdkErrors) {
  if (!guard || typeof guard.validateWithExpiry !== 'function' || typeof guard.resource !== 'function') {
    throw new TypeError('createTokenVerifier needs a mcpguard Guard')
  }
  const resource = new URL(guard.resource())
  // Off the event loop when validation may wait on the network (the core says).
  const offload = typeof guard.waitsOnNetwork === 'function' && guard.waitsOnNetwork()
  return {
    async verifyAccessToken(token) {
      let accepted
      try {
        accepted = offload ? await guard.validateWithExpiryAsync(token) : guard.validateWithExpiry(token)
      } catch (e) {
        if (e instanceof errors.InsufficientScopeError) throw new sdkErrors.InsufficientScopeError(e.message)
        if (e instanceof errors.GuardError) throw new sdkErrors.InvalidTokenError(e.message)
        throw e
      }
      // The SDK checks `expiresAt` itself: it gets the time until which the
      // Guard accepts the token (exp plus the leeway), so both agree.
      return authInfoOf(token, accepted.principal, resource, accepted.acceptedUntil)
    },
  }
}

module.exports = { makeTokenVerifier, resolveFromHost, givenErrors, SDK_ERRORS }
