import { createRequire, syncBuiltinESMExports } from 'node:module';
import type * as FileSystem from 'node:fs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFunction = (...args: any[]) => any;

/**
 * The name of a function of `node:fs`: what {@link replaceFsFunction} replaces.
 *
 * @example
 * ```ts
 * import type { FsFunctionName } from '@unwind/core/testing';
 *
 * const syncs: FsFunctionName[] = ['fsyncSync', 'fdatasyncSync'];
 * ```
 */
export type FsFunctionName = { [K in keyof typeof FileSystem]: (typeof FileSystem)[K] extends AnyFunction ? K : never }[keyof typeof FileSystem];

/**
 * Replaces the `node:fs` function `name` with `wrap(original)` for every
 * caller in this process, whether it imported `node:fs` as an ES module, a
 * namespace or through `require`, until the returned function puts the
 * original back. For tests that must act at an exact moment inside a step:
 * another user's rename between root's `mkdir` and its `chown`, a disk that
 * fills up half-way through a write, an `fsync` that fails.
 *
 * Only the synchronous functions a caller looks up at call time are caught;
 * a function reference taken before the replacement keeps the original.
 *
 * @example
 * ```ts
 * import * as fs from 'node:fs';
 * import { replaceFsFunction } from '@unwind/core/testing';
 *
 * const restore = replaceFsFunction('fsyncSync', (original) => (fd: number) => {
 *   if (fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith('.conf')) throw Object.assign(new Error('EIO'), { code: 'EIO' });
 *   return original(fd);
 * });
 * try {
 *   // run the step whose sync must fail
 * } finally {
 *   restore();
 * }
 * ```
 */
export function replaceFsFunction(name: FsFunctionName, wrap: (original: AnyFunction) => AnyFunction): () => void {
  const table = createRequire(import.meta.url)('node:fs') as Record<string, AnyFunction>;
  const original = table[name]!;
  table[name] = wrap(original);
  syncBuiltinESMExports();
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    table[name] = original;
    syncBuiltinESMExports();
  };
}
