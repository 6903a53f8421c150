import { AbortedError } from '../errors.js';

/**
 * SIGINT/SIGTERM while a transaction runs: the first cancels the run and
 * starts the rollback; the second is reported and ignored (the rollback is
 * not cut short); the third goes to `onThirdSignal` — where a command line
 * may exit, leaving the journal for `recover` — or, without one, ends the
 * trapping, so a further signal has its usual effect. Every signal is
 * reported through `onSignal` (the `signal` event). unwind never writes to
 * the process's streams or exits the process itself: the program embedding
 * it decides that.
 */
export function trapSignals(
  onSignal: (signal: string, count: number) => void,
  cancel: (error: AbortedError) => void,
  onThirdSignal?: (signal: NodeJS.Signals) => void,
): () => void {
  let count = 0;
  const untrap = () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
  function handler(signal: NodeJS.Signals): void {
    count++;
    onSignal(signal, count);
    if (count === 1) cancel(new AbortedError(signal));
    else if (count >= 3) {
      if (onThirdSignal) onThirdSignal(signal);
      else untrap();
    }
  }
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return untrap;
}
