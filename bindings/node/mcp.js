'use strict'
// `mcpguard/mcp` (CommonJS): a token verifier for the MCP TypeScript SDK.
//
//   const { requireBearerAuth } = require('@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js')
//   app.use('/mcp', requireBearerAuth({ verifier: createTokenVerifier(guard) }))
//
// The SDK is an optional peer dependency, loaded from the host (its
// CommonJS build here, so that its `instanceof` checks see its own classes).

const { makeTokenVerifier } = require('./mcp-verifier.js')

let sdkErrors = null
function loadSdkErrors() {
  if (sdkErrors === null) {
    try {
      sdkErrors = require('@modelcontextprotocol/sdk/server/auth/errors.js')
    } catch (e) {
      throw new Error(`mcpguard/mcp needs @modelcontextprotocol/sdk installed beside it (${e.message})`, { cause: e })
    }
  }
  return sdkErrors
}

/**
 * The SDK's `OAuthTokenVerifier` over a Guard: `verifyAccessToken(token)`
 * resolves to the SDK's `AuthInfo` or rejects with the SDK's
 * `InvalidTokenError` (401) / `InsufficientScopeError` (403).
 */
function createTokenVerifier(guard) {
  return makeTokenVerifier(guard, loadSdkErrors())
}

module.exports = { createTokenVerifier }
