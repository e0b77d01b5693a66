// The MCP SDK and Express scenario from an ESM host: mcpguard, the SDK (its
// ESM build) and Express all loaded with import.
import { test } from 'node:test'
import express from 'express'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { InvalidTokenError, InsufficientScopeError } from '@modelcontextprotocol/sdk/server/auth/errors.js'
import { Guard } from 'mcpguard'
import { createTokenVerifier } from 'mcpguard/mcp'
import { guardMiddleware } from 'mcpguard/express'
import helpers from './helpers/scenario.js'

helpers.scenario({
  test,
  express,
  Guard,
  createTokenVerifier,
  guardMiddleware,
  requireBearerAuth,
  SdkInvalidTokenError: InvalidTokenError,
  SdkInsufficientScopeError: InsufficientScopeError,
})
