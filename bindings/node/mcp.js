'use strict'
// `mcpguard/mcp` (CommonJS): a token verifier for the MCP TypeScript SDK.
//
//   const { requireBearerAuth } = require('@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js')
//   app.use('/mcp', requireBearerAuth({ verifier: createTokenVerifier(guard), resourceMetadataUrl: guard.metadataUrl() }))
//
// The SDK is an optional peer dependency, loaded from the host application
// (its CommonJS build here, so that its `instanceof` checks see its own
// classes; see mcp-verifier.js for which copy).

const { makeTokenVerifier, resolveFromHost, givenErrors, SDK_ERRORS } = require('./mcp-verifier.js')

let sdkErrors = null
function loadSdkErrors() {
  if (sdkErrors === null) {
    const fromHost = resolveFromHost()
    try {
      sdkErrors = require(fromHost ?? SDK_ERRORS)
    } catch (e) {
      throw new Error(`mcpguard/mcp needs @modelcontextprotocol/sdk installed in the application (${e.message})`, { cause: e })
    }
  }
  return sdkErrors
}

/**
 * The SDK's `OAuthTokenVerifier` over a Guard: `verifyAccessToken(token)`
 * resolves to the SDK's `AuthInfo` or rejects with the SDK's
 * `InvalidTokenError` (401) / `InsufficientScopeError` (403).
 * `options.sdkErrors`: the SDK's errors module to use instead of the one
 * the application resolves.
 */
function createTokenVerifier(guard, options) {
  return makeTokenVerifier(guard, givenErrors(options) ?? loadSdkErrors())
}

module.exports = { createTokenVerifier }
