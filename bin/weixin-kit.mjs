#!/usr/bin/env node
// The `weixin-kit` command: a thin launcher for the built CLI (dist/cli/index.js).
import { main } from '../dist/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
