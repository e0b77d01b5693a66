'use strict'
// The MCP SDK and Express scenario from a CommonJS host: mcpguard, the SDK
// (its CommonJS build) and Express all loaded with require().
const { test } = require('node:test')
const express = require('express')
const { requireBearerAuth } = require('@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js')
const sdkErrors = require('@modelcontextprotocol/sdk/server/auth/errors.js')
const { Guard } = require('mcpguard')
const { createTokenVerifier } = require('mcpguard/mcp')
const { guardMiddleware } = require('mcpguard/express')
const { scenario } = require('./helpers/scenario.js')

scenario({
  test,
  express,
  Guard,
  createTokenVerifier,
  guardMiddleware,
  requireBearerAuth,
  SdkInvalidTokenError: sdkErrors.InvalidTokenError,
  SdkInsufficientScopeError: sdkErrors.InsufficientScopeError,
})
