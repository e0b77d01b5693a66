// Compile-only: the provider is what the SDK's mcpAuthRouter takes.
import { Guard } from 'mcpguard'
import { McpguardOAuthProvider } from 'mcpguard/oauth'
import type { OAuthServerProvider } from '@modelcontextprotocol/sdk/server/auth/provider.js'

const guard = Guard.fromJson({
  resource: 'https://mcp.example.com/mcp',
  authorization_server: { issuer: 'https://mcp.example.com' },
})
const provider: OAuthServerProvider = new McpguardOAuthProvider(guard, {
  subject: (req) => req.headers['x-user'] as string | undefined,
  consentPath: '/consent',
})
const issuer: string = new McpguardOAuthProvider(guard).issuer
// @ts-expect-error: the subject is a function of the request
new McpguardOAuthProvider(guard, { subject: 'alice' })
void provider
void issuer
