import { isRunning } from '../process-tree.js';

/**
 * Waits up to `withinMs` for process `pid` to be gone (exited; a zombie
 * nobody reaped yet counts as gone); resolves whether it went. For tests
 * that check a kill reached a process, in whatever group or session it ran.
 *
 * @example
 * ```ts
 * expect(await goneWithin(escapedPid, 5000)).toBe(true);
 * ```
 */
export async function goneWithin(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (isRunning(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}
