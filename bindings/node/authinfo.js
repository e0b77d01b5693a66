'use strict'
// The MCP SDK's `AuthInfo` for a principal, shared by `mcpguard/mcp` and
// `mcpguard/express` (the SDK itself is not needed to build it).

const { effectiveScopes } = require('./native.js')

/**
 * `AuthInfo` as the SDK's `requireBearerAuth` sets `req.auth`: the token,
 * the client id (the subject when the token has none), the scopes (the
 * token's own, then the `tag:` scopes its roles grant, so that the SDK's
 * `requiredScopes` sees what mcpguard grants), `expiresAt`: the time in
 * Unix seconds until which the Guard accepts the token (its `exp` plus the
 * leeway, so that the SDK, which checks it itself, accepts exactly what the
 * Guard accepts), the resource as a URL, and `extra` with the subject,
 * issuer, tags, roles, audience and token id. `scopes` is the effective
 * list when the caller already has it from the core (`HttpDecision`
 * carries it); otherwise the core computes it here.
 */
function authInfoOf(token, principal, resource, acceptedUntil, scopes = effectiveScopes(principal.scopes, principal.tags)) {
  const info = {
    token,
    clientId: principal.clientId ?? principal.subject ?? '',
    scopes,
    resource,
    extra: {
      subject: principal.subject,
      issuer: principal.issuer,
      tags: principal.tags,
      roles: principal.roles,
      audience: principal.audience,
      jwtId: principal.jwtId,
    },
  }
  if (acceptedUntil != null) info.expiresAt = acceptedUntil
  return info
}

module.exports = { authInfoOf }
