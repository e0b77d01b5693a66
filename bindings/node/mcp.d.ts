/**
 * `mcpguard/mcp`: mcpguard as the MCP TypeScript SDK's token verifier.
 *
 * ```js
 * import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
 * import { createTokenVerifier } from 'mcpguard/mcp'
 * app.use('/mcp', requireBearerAuth({ verifier: createTokenVerifier(guard) }))
 * ```
 * @packageDocumentation
 */
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js'
import type { Guard } from './index'

/**
 * The SDK's `OAuthTokenVerifier` over a Guard. `verifyAccessToken(token)`
 * validates the bare token (signature, claims, revocation, required
 * scopes; through the Guard's cache) and resolves to the SDK's `AuthInfo`:
 * `token`; `clientId` (the subject when the token has none); `scopes` (the
 * token's, then the `tag:` scopes its roles grant); `expiresAt` in seconds;
 * `resource` as a `URL`; `extra` with `subject`, `issuer`, `tags`, `roles`,
 * `audience` and `jwtId`. It rejects with the SDK's own `InvalidTokenError`
 * (401) or `InsufficientScopeError` (403), from the SDK build of the
 * importing host (ESM or CommonJS), so `requireBearerAuth` maps them.
 *
 * Tag access and rate limits need the request (server, tool, filter,
 * client address): use `guardMiddleware` from `mcpguard/express` for those.
 */
export declare function createTokenVerifier(guard: Guard): OAuthTokenVerifier
