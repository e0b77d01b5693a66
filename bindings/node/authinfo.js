'use strict'
// The MCP SDK's `AuthInfo` for a principal, shared by `mcpguard/mcp` and
// `mcpguard/express` (the SDK itself is not needed to build it).

const { tagsToScopes } = require('./native.js')

/**
 * `AuthInfo` as the SDK's `requireBearerAuth` sets `req.auth`: the token,
 * the client id (the subject when the token has none), the scopes (the
 * token's own, then the `tag:` scopes its roles grant, so that the SDK's
 * `requiredScopes` sees what mcpguard grants), `expiresAt` in seconds, the
 * resource as a URL, and `extra` with the subject, issuer, tags, roles,
 * audience and token id.
 */
function authInfoOf(token, principal, resource) {
  const scopes = [...principal.scopes]
  for (const scope of tagsToScopes(principal.tags)) if (!scopes.includes(scope)) scopes.push(scope)
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
  if (principal.expiresAt !== null) info.expiresAt = principal.expiresAt
  return info
}

/** The bearer token of an `Authorization` value the Guard accepted. */
function bearerToken(authorization) {
  return String(authorization).trim().replace(/^bearer +/i, '')
}

module.exports = { authInfoOf, bearerToken }
