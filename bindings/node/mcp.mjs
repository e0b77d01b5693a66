// `mcpguard/mcp` (ESM): a token verifier for the MCP TypeScript SDK, built on
// the SDK's ESM classes so that its `instanceof` checks hold in ESM hosts.
import { InvalidTokenError, InsufficientScopeError } from '@modelcontextprotocol/sdk/server/auth/errors.js'
import verifier from './mcp-verifier.js'

const sdkErrors = { InvalidTokenError, InsufficientScopeError }

/**
 * The SDK's `OAuthTokenVerifier` over a Guard: `verifyAccessToken(token)`
 * resolves to the SDK's `AuthInfo` or rejects with the SDK's
 * `InvalidTokenError` (401) / `InsufficientScopeError` (403).
 */
export function createTokenVerifier(guard) {
  return verifier.makeTokenVerifier(guard, sdkErrors)
}

export default { createTokenVerifier }
