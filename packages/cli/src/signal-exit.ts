/**
 * The command line's answer to a third SIGINT/SIGTERM during a run, for
 * `transaction(name, { onThirdSignal })`: say how to finish, then exit 130,
 * leaving the rest of the rollback to `unwind recover`. The library never
 * exits by itself; a program opts in with this.
 *
 * @example
 * ```ts
 * const tx = transaction('install app', { journal, onThirdSignal: exitOnThirdSignal() });
 * ```
 */
export function exitOnThirdSignal(stream: NodeJS.WritableStream = process.stderr, resume = '`unwind recover`'): (signal: NodeJS.Signals) => void {
  return (signal) => {
    stream.write(`unwind: ${signal} a third time: exiting during the rollback; run ${resume} to finish it\n`);
    process.exit(130);
  };
}
