// `mcpguard/express` (ESM): the same middleware as the CommonJS entry.
import express from './express.js'

export const { guardMiddleware, metadataHandler, keepRawBody } = express
export default express
