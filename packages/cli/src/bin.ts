#!/usr/bin/env node
import { runCli } from './program.js';
import { answerUncaughtExceptions } from './uncaught-refusals.js';

answerUncaughtExceptions();

// Show Node's process warnings (e.g. a stale lock taken over) as plain `unwind:` lines.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  process.stderr.write(`unwind: warning: ${warning.message.replace(/^unwind: /, '')}\n`);
});

// `unwind log X | head`: the reader went away; that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`unwind: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 70;
  },
);
