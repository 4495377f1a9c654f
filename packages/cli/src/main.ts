#!/usr/bin/env node
import { run } from './program.js';

const code = await run(process.argv.slice(2));
process.exitCode = code;
// Normally the process ends here by itself. Should anything still hold the event loop
// (a backend's worker threads, say), leave anyway once output has had time to flush; unref'd,
// the timer itself never keeps the process alive.
setTimeout(() => process.exit(code), 2000).unref();
