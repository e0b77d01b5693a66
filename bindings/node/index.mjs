// The ESM entry of `mcpguard`: the same classes as the CommonJS entry (one
// module instance, so `instanceof` and the error classes agree in both).
import mcpguard from './index.js'

export const {
  Guard,
  HttpOptions,
  HttpBody,
  HttpDecision,
  ManualClock,
  TokenValidator,
  TagFilter,
  RateLimiter,
  validateScopes,
  scopesToTags,
  tagsToScopes,
  GuardError,
  InvalidTokenError,
  InsufficientScopeError,
  RateLimitedError,
  InvalidRequestError,
  ConfigError,
  OpaqueStoreError,
  OpaqueTokenRejectedError,
  errorFromDecision,
} = mcpguard

export default mcpguard
