import { AbortedError } from '../errors.js';

/**
 * SIGINT/SIGTERM while a transaction runs: the first cancels the run and
 * starts the rollback; the second is reported and ignored (the rollback is
 * not cut short); the third exits with 130, leaving the journal for `recover`.
 */
export function trapSignals(onSignal: (signal: string, count: number) => void, cancel: (error: AbortedError) => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    onSignal(signal, count);
    if (count === 1) cancel(new AbortedError(signal));
    else if (count === 2) process.stderr.write(`unwind: rolling back; a third ${signal} exits and leaves the rollback to \`unwind recover\`\n`);
    else {
      process.stderr.write('unwind: exiting during rollback; run `unwind recover` to finish it\n');
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
