/**
 * `mcpguard/oauth`: mcpguard's embedded authorization server as an
 * `OAuthServerProvider` for the TypeScript MCP SDK's `mcpAuthRouter`.
 *
 * ```js
 * const guard = Guard.fromFile('mcpguard.json') // with an authorization_server section
 * const provider = new McpguardOAuthProvider(guard, { subject: (req) => req.user?.id })
 * app.use(mcpAuthRouter({ provider, issuerUrl: new URL(provider.issuer) }))
 * app.post('/consent', provider.consentHandler())
 * ```
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Response } from 'express'
import type { OAuthServerProvider, AuthorizationParams } from '@modelcontextprotocol/sdk/server/auth/provider.js'
import type { OAuthRegisteredClientsStore } from '@modelcontextprotocol/sdk/server/auth/clients.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import type {
  OAuthClientInformationFull,
  OAuthTokenRevocationRequest,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js'
import type { Guard } from './index'
import type { OAuthServer } from './native'

/** What the consent page shows: the pending request and its CSRF token. */
export interface ConsentRequest {
  request_id: string
  csrf_token: string
  client_id: string
  client_name: string | null
  redirect_uri: string
  resource: string
  scopes: string[]
  tags: string[]
  expires_at: number
  /** The `Set-Cookie` value carrying the CSRF token (the provider sets it). */
  set_cookie: string
}

/** Options of `McpguardOAuthProvider`. */
export interface McpguardOAuthProviderOptions {
  /** The signed-in user answering the consent page; `undefined`: not signed in (401). */
  subject?: (req: IncomingMessage) => string | undefined | Promise<string | undefined>
  /** Where `consentHandler()` is mounted (the consent form's action). Default `/consent`. */
  consentPath?: string
  /**
   * Replaces the default consent page. The form must post `request_id`,
   * `csrf_token`, `decision=approve|deny` and, with `scope_choice=1`, the
   * kept `scope` values.
   */
  renderConsent?: (consent: ConsentRequest, action: string) => string | Promise<string>
}

/**
 * The SDK's provider over mcpguard's engine: public clients with PKCE
 * (S256), the consent page, rotating refresh tokens with reuse detection,
 * RFC 7009 revocation. Confidential clients are refused through the SDK's
 * router (it compares secrets in clear text, which the engine never keeps).
 */
export declare class McpguardOAuthProvider implements OAuthServerProvider {
  constructor(guard: Guard, options?: McpguardOAuthProviderOptions)
  /** The native engine (`handleHttp`, `metadata`, …). */
  readonly server: OAuthServer
  /** The issuer identifier. */
  readonly issuer: string
  /** Where the consent form posts. */
  readonly consentPath: string
  /** Always `true`: the engine checks PKCE when the code is exchanged. */
  readonly skipLocalPkceValidation: boolean
  readonly clientsStore: OAuthRegisteredClientsStore
  authorize(client: OAuthClientInformationFull, params: AuthorizationParams, res: Response): Promise<void>
  /** The handler for the consent form (POST at `consentPath`). */
  consentHandler(): (req: IncomingMessage, res: ServerResponse) => Promise<void>
  challengeForAuthorizationCode(client: OAuthClientInformationFull, authorizationCode: string): Promise<string>
  exchangeAuthorizationCode(
    client: OAuthClientInformationFull,
    authorizationCode: string,
    codeVerifier?: string,
    redirectUri?: string,
    resource?: URL,
  ): Promise<OAuthTokens>
  exchangeRefreshToken(
    client: OAuthClientInformationFull,
    refreshToken: string,
    scopes?: string[],
    resource?: URL,
  ): Promise<OAuthTokens>
  verifyAccessToken(token: string): Promise<AuthInfo>
  revokeToken(client: OAuthClientInformationFull, request: OAuthTokenRevocationRequest): Promise<void>
}

export { OAuthServer }
