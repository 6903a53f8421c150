/**
 * The program name a `child_process.spawn` call's caller wrote: its
 * `argv0` when it gave one (runCommand spawns the file it found on PATH,
 * with the name as written as `argv0`), else the file spawned. Both command
 * recorders label commands by it, so a label reads as the step wrote it.
 *
 * @example
 * ```ts
 * spawnedName(['/usr/sbin/useradd', ['-m', 'app'], { argv0: 'useradd' }]); // 'useradd'
 * ```
 */
export function spawnedName(args: readonly unknown[]): string {
  const options = Array.isArray(args[1]) ? args[2] : args[1];
  const argv0 = (options as { argv0?: unknown } | undefined)?.argv0;
  return typeof argv0 === 'string' ? argv0 : String(args[0]);
}
