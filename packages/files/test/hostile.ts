import moduleFs from 'node:fs';
import { memoryJournal, transaction, type AnyStepKind, type Outcome } from '@unwind/core';
import { replaceFsFunction, type FsFunctionName } from '@unwind/core/testing';
import { cleanups } from './cleanups.js';

export { cleanups };

// For tests where a user who owns a directory that a root step works in moves things in it at the worst
// moment: her moves are made at exact points by wrapping fs calls (hook), the checks say what root must
// never have done.

/** Her uid: nobody on the machine. */
export const ALICE = 4242;

/** Replaces fs[name] with `wrap(real)` until the test ends. */
export function hook(name: FsFunctionName, wrap: (real: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown): void {
  cleanups.push(replaceFsFunction(name, wrap));
}

/** Records, until the test ends, every descriptor opened on a character device (one only named with O_PATH does not count). */
export function watchDeviceOpens(): string[] {
  const opened: string[] = [];
  hook('openSync', (real) => (path, flags, ...rest) => {
    const fd = real(path, flags, ...rest) as number;
    const onlyNamed = typeof flags === 'number' && (flags & 0o10000000) !== 0;
    if (!onlyNamed && moduleFs.fstatSync(fd).isCharacterDevice()) opened.push(String(path));
    return fd;
  });
  return opened;
}

/** Runs the steps in one transaction (memory journal, no undo retries). */
export async function run(...steps: Array<ReturnType<AnyStepKind>>): Promise<Outcome> {
  const tx = transaction('hostile', { journal: memoryJournal(), handleSignals: false, retry: { undo: { retries: 0 } } });
  for (const step of steps) tx.add(step);
  return tx.run();
}
