'use strict'
// The body of `createTokenVerifier`, given the SDK's error classes: the
// CommonJS entry (mcp.js) passes the SDK's CommonJS build, the ESM entry
// (mcp.mjs) its ESM build, so the SDK's `instanceof` checks hold in both.

const errors = require('./errors.js')
const { authInfoOf } = require('./authinfo.js')

function makeTokenVerifier(guard, sdkErrors) {
  if (!guard || typeof guard.validate !== 'function' || typeof guard.resource !== 'function') {
    throw new TypeError('createTokenVerifier needs a mcpguard Guard')
  }
  const resource = new URL(guard.resource())
  return {
    async verifyAccessToken(token) {
      let principal
      try {
        principal = guard.validate(token)
      } catch (e) {
        if (e instanceof errors.InsufficientScopeError) throw new sdkErrors.InsufficientScopeError(e.message)
        if (e instanceof errors.GuardError) throw new sdkErrors.InvalidTokenError(e.message)
        throw e
      }
      return authInfoOf(token, principal, resource)
    },
  }
}

module.exports = { makeTokenVerifier }
