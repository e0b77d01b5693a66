// A real identity provider for mcpguard-fetch's tests: oidc-provider on
// loopback, serving its own discovery document, JWKS, token endpoint
// (client_credentials with a resource indicator) and introspection.
//
// Usage: node server.mjs <resource>
// Prints "READY <issuer>" once listening on a free port; exits on stdin EOF.

import { createServer } from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const resource = process.argv[2];
if (!resource) {
  console.error('usage: node server.mjs <resource>');
  process.exit(2);
}

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [
    // Gets JWT access tokens for the resource.
    { client_id: 'app-jwt', client_secret: 'app-jwt-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    // Gets opaque access tokens for the same resource.
    { client_id: 'app-opaque', client_secret: 'app-opaque-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    // The resource server: may only introspect.
    { client_id: 'rs', client_secret: 'rs-secret', grant_types: [], redirect_uris: [], response_types: [] },
  ],
  scopes: ['read', 'write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator, client) => {
        if (indicator !== resource) throw new Error('unknown resource');
        return {
          scope: 'read write',
          audience: indicator,
          accessTokenTTL: 600,
          accessTokenFormat: client.clientId === 'app-opaque' ? 'opaque' : 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

server.on('request', provider.callback());
console.log(`READY ${issuer}`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
