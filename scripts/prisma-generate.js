#!/usr/bin/env node
// Runs `prisma generate` without the native schema engine download.
// `prisma generate` does not need that engine, but the CLI tries to fetch it unless
// PRISMA_SCHEMA_ENGINE_BINARY points at an existing file; no machine here can reach the download.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const env = { ...process.env };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
env.CHECKPOINT_DISABLE = '1';
const cli = require.resolve('prisma/build/index.js');
const result = spawnSync(process.execPath, [cli, 'generate', '--schema', path.join(__dirname, '..', 'prisma', 'schema.prisma')], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
