/**
 * `mcpguard/mcp`: mcpguard as the MCP TypeScript SDK's token verifier.
 *
 * ```js
 * import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
 * import { createTokenVerifier } from 'mcpguard/mcp'
 * app.get(guard.metadataPath(), metadataHandler(guard)) // from mcpguard/express
 * app.use('/mcp', requireBearerAuth({ verifier: createTokenVerifier(guard), resourceMetadataUrl: guard.metadataUrl() }))
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
 * token's, then the `tag:` scopes its roles grant); `expiresAt`: until when
 * the Guard accepts the token (its `exp` plus the leeway, so that the SDK's
 * own expiry check accepts what the Guard accepts), in seconds;
 * `resource` as a `URL`; `extra` with `subject`, `issuer`, `tags`, `roles`,
 * `audience` and `jwtId`. It rejects with the SDK's own `InvalidTokenError`
 * (401) or `InsufficientScopeError` (403), from the SDK build of the
 * importing host (ESM or CommonJS), so `requireBearerAuth` maps them. The
 * SDK is the copy the application resolves (from its entry script's folder,
 * then the working directory), before this package's own: an `npm link`ed
 * or `file:` install works too. `options.sdkErrors` names the copy
 * explicitly: the module `@modelcontextprotocol/sdk/server/auth/errors.js`
 * as the code calling `requireBearerAuth` loads it.
 *
 * Tag access and rate limits need the request (server, tool, filter,
 * client address): use `guardMiddleware` from `mcpguard/express` for those.
 */
export declare function createTokenVerifier(
  guard: Guard,
  options?: { sdkErrors?: { InvalidTokenError: new (message: string) => Error; InsufficientScopeError: new (message: string) => Error } },
): OAuthTokenVerifier
