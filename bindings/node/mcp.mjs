// `mcpguard/mcp` (ESM): a token verifier for the MCP TypeScript SDK, built on
// the SDK's ESM classes of the copy the host application resolves, so that
// its `instanceof` checks hold in ESM hosts (see mcp-verifier.js).
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import verifier from './mcp-verifier.js'

const { makeTokenVerifier, resolveFromHost, givenErrors, SDK_ERRORS } = verifier

/**
 * The host's copy of the SDK's ESM errors module. Node resolves the host's
 * CommonJS path; the ESM file sits in that copy where the ESM resolver puts
 * it in the copy this package resolves (same package layout), found by
 * what the two CommonJS paths share at their end.
 */
function hostEsmUrl() {
  const host = resolveFromHost()
  if (host === null) return null
  let ownCjs
  let ownEsm
  try {
    ownCjs = createRequire(import.meta.url).resolve(SDK_ERRORS)
    ownEsm = fileURLToPath(import.meta.resolve(SDK_ERRORS))
  } catch {
    return null
  }
  if (fs.realpathSync(ownCjs) === fs.realpathSync(host)) return null
  let k = 0
  while (k < host.length && k < ownCjs.length && host[host.length - 1 - k] === ownCjs[ownCjs.length - 1 - k]) k++
  const ownRoot = ownCjs.slice(0, ownCjs.length - k)
  const hostRoot = host.slice(0, host.length - k)
  if (!ownEsm.startsWith(ownRoot)) return null
  const candidate = hostRoot + ownEsm.slice(ownRoot.length)
  return fs.existsSync(candidate) ? pathToFileURL(fs.realpathSync(candidate)).href : null
}

const sdkErrors = await import(hostEsmUrl() ?? SDK_ERRORS).catch((e) => {
  throw new Error(`mcpguard/mcp needs @modelcontextprotocol/sdk installed in the application (${e.message})`, { cause: e })
})

/**
 * The SDK's `OAuthTokenVerifier` over a Guard: `verifyAccessToken(token)`
 * resolves to the SDK's `AuthInfo` or rejects with the SDK's
 * `InvalidTokenError` (401) / `InsufficientScopeError` (403).
 * `options.sdkErrors`: the SDK's errors module to use instead of the one
 * the application resolves.
 */
export function createTokenVerifier(guard, options) {
  return makeTokenVerifier(guard, givenErrors(options) ?? sdkErrors)
}

export default { createTokenVerifier }
