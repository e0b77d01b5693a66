'use strict'
// `mcpguard/oauth`: the embedded authorization server (the core's
// `mcpguard::oauth` engine) as an `OAuthServerProvider` for the TypeScript
// MCP SDK's `mcpAuthRouter`.
//
//   const guard = Guard.fromFile('mcpguard.json')        // with an authorization_server section
//   const provider = new McpguardOAuthProvider(guard, { subject: (req) => req.user?.id })
//   app.use(mcpAuthRouter({ provider, issuerUrl: new URL(provider.issuer) }))
//   app.post('/consent', provider.consentHandler())
//
// The engine decides everything (PKCE, redirect URIs, scopes, rotation and
// reuse detection); this file only converts. PKCE is checked by the engine,
// so the provider sets `skipLocalPkceValidation`.

const native = require('./native.js')
const { authInfoOf } = require('./authinfo.js')
const { fromNative } = require('./errors.js')

/** The SDK's OAuth error classes, loaded when first needed (the SDK is an optional peer). */
function sdkErrors() {
  return require('@modelcontextprotocol/sdk/server/auth/errors.js')
}

/** The value of a native envelope, or the SDK's `OAuthError` for its refusal. */
function unwrap(text) {
  const r = JSON.parse(text)
  if (r.ok) return r.value
  const errors = sdkErrors()
  const ErrorClass = errors.OAUTH_ERRORS[r.error] ?? errors.ServerError
  const e = new ErrorClass(r.error_description)
  e.status = r.status
  if (r.retry_after !== undefined) e.retryAfter = r.retry_after
  return Promise.reject(e)
}

function tokensOf(t) {
  const tokens = { access_token: t.access_token, token_type: t.token_type, expires_in: t.expires_in, scope: t.scope }
  if (t.refresh_token !== undefined) tokens.refresh_token = t.refresh_token
  return tokens
}

/** The whole body of a request whose body no parser read, as text. */
function readBody(req) {
  if (req.body !== undefined && req.body !== null) {
    if (typeof req.body === 'string') return Promise.resolve(req.body)
    if (Buffer.isBuffer(req.body)) return Promise.resolve(req.body.toString('utf8'))
    // An object from express.urlencoded(): back to form text, values kept as lists.
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(req.body)) for (const item of [].concat(v)) params.append(k, String(item))
    return Promise.resolve(params.toString())
  }
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

const PAGE_HEADERS = [
  ['Cache-Control', 'no-store'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"],
  ['Referrer-Policy', 'no-referrer'],
]

function sendPage(res, status, contentType, body, extra = []) {
  res.statusCode = status
  for (const [name, v] of PAGE_HEADERS) res.setHeader(name, v)
  for (const [name, v] of extra) res.setHeader(name, v)
  res.setHeader('Content-Type', contentType)
  res.end(body)
}

/**
 * The SDK's `OAuthServerProvider` over mcpguard's engine.
 *
 * Options: `subject(req)` returns the signed-in user answering the consent
 * page (required to approve; a single-user local host may return a fixed
 * name); `consentPath` is where `consentHandler()` is mounted (default
 * `/consent`); `renderConsent(consent, action)` replaces the default page
 * (it must post `request_id`, `csrf_token`, `decision=approve|deny` and,
 * with `scope_choice=1`, the kept `scope` values).
 *
 * Clients: public clients (PKCE, `token_endpoint_auth_method: "none"`), as
 * MCP clients register. The SDK's router compares client secrets in clear
 * text, which the engine never keeps, so a confidential client does not get
 * through this router: it is refused (fail closed). Serve confidential and
 * machine clients with the engine's own endpoints (`OAuthServer.handleHttp`).
 */
class McpguardOAuthProvider {
  #server
  #guard
  #subject
  #render

  constructor(guard, options = {}) {
    this.#guard = guard
    try {
      this.#server = new native.OAuthServer(guard)
    } catch (e) {
      throw fromNative(e)
    }
    this.#subject = options.subject ?? (() => undefined)
    this.#render = options.renderConsent ?? null
    this.consentPath = options.consentPath ?? '/consent'
    /** The engine checks PKCE (S256 only) when the code is exchanged. */
    this.skipLocalPkceValidation = true
    const server = this.#server
    this.clientsStore = {
      async getClient(clientId) {
        const client = await unwrap(server.client(String(clientId)))
        return client ?? undefined
      },
      async registerClient(client) {
        // The SDK made up an id and a secret; the engine issues its own
        // (the secret stored hashed) and the response shows them once.
        const { client_id, client_secret, client_id_issued_at, client_secret_expires_at, ...metadata } = client
        const rateKey = `sdk:${metadata.client_name ?? ''}:${(metadata.redirect_uris ?? [])[0] ?? ''}`
        return await unwrap(server.register(JSON.stringify(metadata), null, rateKey))
      },
    }
  }

  /** The native server (for `handleHttp`, `metadata`, …). */
  get server() {
    return this.#server
  }

  /** The issuer identifier. */
  get issuer() {
    return this.#server.issuer
  }

  async authorize(client, params, res) {
    const request = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: params.redirectUri,
      state: params.state,
      scope: params.scopes && params.scopes.length ? params.scopes.join(' ') : undefined,
      code_challenge: params.codeChallenge,
      code_challenge_method: 'S256',
      resource: params.resource ? params.resource.href : undefined,
    }
    const r = JSON.parse(this.#server.authorize(JSON.stringify(request)))
    if (!r.ok) {
      sendPage(res, r.status, 'text/plain; charset=utf-8', `${r.error}: ${r.error_description}\n`)
      return
    }
    if (r.value.redirect) {
      res.statusCode = 302
      res.setHeader('Location', r.value.redirect)
      res.setHeader('Cache-Control', 'no-store')
      res.end()
      return
    }
    const consent = r.value.consent
    const html = this.#render
      ? await this.#render(consent, this.consentPath)
      : this.#server.consentPage(consent.request_id, this.consentPath)
    sendPage(res, 200, 'text/html; charset=utf-8', html, [['Set-Cookie', consent.set_cookie]])
  }

  /** The handler for the consent form (mount it with POST at `consentPath`). */
  consentHandler() {
    return async (req, res) => {
      try {
        const subject = await this.#subject(req)
        if (!subject) {
          sendPage(res, 401, 'text/plain; charset=utf-8', 'login_required: sign in before answering the consent page\n')
          return
        }
        const form = new URLSearchParams(await readBody(req))
        const answer = {
          request_id: form.get('request_id') ?? '',
          csrf_form: form.get('csrf_token'),
          cookie_header: req.headers.cookie ?? null,
          subject: String(subject),
          approve: form.get('decision') === 'approve',
          scopes: form.has('scope_choice') ? form.getAll('scope') : null,
        }
        const r = JSON.parse(this.#server.consent(JSON.stringify(answer)))
        if (!r.ok) {
          sendPage(res, r.status, 'text/plain; charset=utf-8', `${r.error}: ${r.error_description}\n`)
          return
        }
        res.statusCode = 302
        res.setHeader('Location', r.value)
        res.setHeader('Cache-Control', 'no-store')
        res.setHeader('Set-Cookie', 'mcpguard_consent=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0')
        res.end()
      } catch (e) {
        sendPage(res, 500, 'text/plain; charset=utf-8', 'server_error\n')
      }
    }
  }

  async challengeForAuthorizationCode() {
    throw new (sdkErrors().ServerError)('mcpguard checks PKCE when the code is exchanged (skipLocalPkceValidation)')
  }

  async exchangeAuthorizationCode(client, authorizationCode, codeVerifier, redirectUri, resource) {
    const t = await unwrap(
      this.#server.token(
        JSON.stringify({
          grant_type: 'authorization_code',
          code: authorizationCode,
          code_verifier: codeVerifier,
          redirect_uri: redirectUri,
          resource: resource ? resource.href : undefined,
          client_id: client.client_id,
        }),
      ),
    )
    return tokensOf(t)
  }

  async exchangeRefreshToken(client, refreshToken, scopes, resource) {
    const t = await unwrap(
      this.#server.token(
        JSON.stringify({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          scope: scopes && scopes.length ? scopes.join(' ') : undefined,
          resource: resource ? resource.href : undefined,
          client_id: client.client_id,
        }),
      ),
    )
    return tokensOf(t)
  }

  async verifyAccessToken(token) {
    const errors = sdkErrors()
    let principal
    try {
      principal = this.#guard.validate(token)
    } catch (e) {
      throw new errors.InvalidTokenError(e.message)
    }
    const aud = principal.audience[0]
    return authInfoOf(token, principal, aud ? new URL(aud) : undefined)
  }

  async revokeToken(client, request) {
    await unwrap(
      this.#server.revoke(
        JSON.stringify({ token: request.token, token_type_hint: request.token_type_hint, client_id: client.client_id }),
      ),
    )
  }
}

module.exports = { McpguardOAuthProvider, OAuthServer: native.OAuthServer }
