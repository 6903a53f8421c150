import { createRequire, syncBuiltinESMExports } from 'node:module';
import type * as FileSystem from 'node:fs';
import type { StepContext } from '../step.js';

const MUTATING = [
  'openSync', 'writeSync', 'writeFileSync', 'appendFileSync', 'ftruncateSync', 'truncateSync', 'renameSync', 'linkSync', 'symlinkSync',
  'unlinkSync', 'rmdirSync', 'rmSync', 'mkdirSync', 'mkdtempSync', 'chmodSync', 'fchmodSync', 'chownSync', 'lchownSync', 'fchownSync',
  'copyFileSync', 'cpSync', 'utimesSync', 'lutimesSync', 'futimesSync', 'fsyncSync', 'fdatasyncSync',
] as const;

/** Thrown after the chosen operation of a `do` under {@link interruptAfter}: the do stops there. */
export class PartialDoInterruption extends Error {
  override name = 'PartialDoInterruption';
  constructor(readonly operation: number) {
    super(`do interrupted after its mutating operation ${operation}`);
  }
}

/**
 * Counts the mutating operations of a `do` run in this process — each
 * synchronous node:fs call that may change something (an open for reading
 * does not count) and each command run through the context's `exec` — and,
 * with `stopAfter`, throws {@link PartialDoInterruption} right after the
 * operation with that number (1-based), so the do stops half-way with that
 * much done. Only outermost calls count. `restore()` puts node:fs back.
 */
export function interruptAfter(stopAfter: number | undefined): { context(ctx: StepContext): StepContext; count(): number; restore(): void } {
  const fs = createRequire(import.meta.url)('node:fs') as typeof FileSystem;
  const table = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved = new Map<string, (...args: unknown[]) => unknown>();
  let count = 0;
  let depth = 0;
  const tick = () => {
    count++;
    if (count === stopAfter) throw new PartialDoInterruption(count);
  };
  const c = fs.constants;
  const writes = c.O_WRONLY | c.O_RDWR | c.O_CREAT | c.O_TRUNC | c.O_APPEND;
  const mayWrite = (flags: unknown) => (typeof flags === 'number' ? (flags & writes) !== 0 : typeof flags === 'string' && flags !== 'r' && flags !== 'rs');
  for (const name of MUTATING) {
    const original = table[name]!;
    saved.set(name, original);
    table[name] = function (this: unknown, ...args: unknown[]) {
      if (depth > 0) return original.apply(this, args);
      depth++;
      let result: unknown;
      try {
        result = original.apply(this, args);
      } finally {
        depth--;
      }
      if (name !== 'openSync' || mayWrite(args[1] ?? 'r')) tick();
      return result;
    };
  }
  syncBuiltinESMExports();
  return {
    context: (ctx) => ({
      ...ctx,
      exec: async (spec) => {
        const result = await ctx.exec(spec);
        tick();
        return result;
      },
    }),
    count: () => count,
    restore: () => {
      for (const [name, original] of saved) table[name] = original;
      syncBuiltinESMExports();
    },
  };
}
