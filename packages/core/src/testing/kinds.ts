import * as fs from 'node:fs';
import * as t from 'io-ts';
import { NonRetryableError, VerificationError } from '../errors.js';
import { defineStep } from '../step.js';
import { syncDirectory } from '../durable.js';
import { dirname } from 'node:path';

/**
 * A step whose `do` always fails (not retryable). Put it after the steps
 * under test to force a rollback.
 *
 * @example
 * ```ts
 * tx.add(failingStep({ message: 'injected' }));
 * ```
 */
export const failingStep = defineStep({
  type: 'test.fail',
  package: '@unwind/core/testing',
  args: t.type({ message: t.string }),
  before: t.null,
  describe: (a) => `fail on purpose (${a.message})`,
  prepare: async () => null,
  do: async (a): Promise<void> => {
    throw new NonRetryableError(new Error(a.message));
  },
  undo: async () => {},
});

/**
 * A step that does nothing: the runner's own cost, for benchmarks.
 *
 * @example
 * ```ts
 * for (let i = 0; i < 1000; i++) tx.add(noopStep({}));
 * ```
 */
export const noopStep = defineStep({
  type: 'test.noop',
  package: '@unwind/core/testing',
  args: t.type({}),
  before: t.null,
  describe: () => 'nothing',
  prepare: async () => null,
  do: async () => {},
  undo: async () => {},
});

/**
 * A step that changes nothing but returns a result of `size` bytes, so its
 * `done` record is that long: for tests of how long records land in the
 * journal file (sectors, a reused file's earlier bytes).
 *
 * @example
 * ```ts
 * tx.add(paddedResultStep({ size: 700 })); // its done record is over 700 bytes
 * ```
 */
export const paddedResultStep = defineStep({
  type: 'test.paddedResult',
  package: '@unwind/core/testing',
  args: t.type({ size: t.number }),
  before: t.null,
  after: t.type({ pad: t.string }),
  describe: (a) => `return ${a.size} bytes`,
  prepare: async () => null,
  do: async (a) => ({ pad: 'p'.repeat(a.size) }),
  undo: async () => {},
});

const MarkerArgs = t.intersection([
  t.type({ path: t.string, content: t.string }),
  t.partial({
    /** Fail in this phase (every time). */
    failIn: t.union([t.literal('prepare'), t.literal('do'), t.literal('verify'), t.literal('undo')]),
    /** SIGKILL this process in the middle of `do` or `undo`, once: only while the token file exists (it is removed first). */
    killIn: t.union([t.literal('do'), t.literal('undo')]),
    killToken: t.string,
  }),
]);

function writeDurably(path: string, content: string): void {
  const fd = fs.openSync(path, 'w', 0o644);
  try {
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  syncDirectory(dirname(path));
}

function maybeKill(args: t.TypeOf<typeof MarkerArgs>, phase: 'do' | 'undo'): void {
  if (args.killIn !== phase || !args.killToken || !fs.existsSync(args.killToken)) return;
  fs.rmSync(args.killToken);
  syncDirectory(dirname(args.killToken));
  process.kill(process.pid, 'SIGKILL');
}

/**
 * A real-disk test step: writes `content` to `path`; undo restores the old
 * bytes or removes the file. It can fail or SIGKILL its own process in a
 * chosen phase, half-way through, for failure and crash tests.
 *
 * @example
 * ```ts
 * tx.add(writeMarker({ path: join(dir, 'a'), content: 'A', failIn: 'verify' }));
 * ```
 */
export const writeMarker = defineStep({
  type: 'test.writeMarker',
  package: '@unwind/core/testing',
  args: MarkerArgs,
  // The old content goes to a blob (synced before the `prepared` record), as a real backup would.
  before: t.union([t.type({ existed: t.literal(false) }), t.type({ existed: t.literal(true), blob: t.string })]),
  after: t.type({ bytes: t.number }),
  describe: (a) => `write ${a.path}`,
  prepare: async (a, ctx) => {
    if (a.failIn === 'prepare') throw new NonRetryableError(new Error(`injected failure in prepare of ${a.path}`));
    let content: Buffer;
    try {
      content = fs.readFileSync(a.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { existed: false as const };
      throw error;
    }
    if (!(await ctx.blobs.has('before'))) await ctx.blobs.write('before', content);
    return { existed: true as const, blob: 'before' };
  },
  do: async (a, _before, ctx) => {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    // A half-written file first: what a crash in the middle of `do` leaves.
    writeDurably(a.path, a.content.slice(0, Math.floor(a.content.length / 2)));
    maybeKill(a, 'do');
    if (a.failIn === 'do') throw new NonRetryableError(new Error(`injected failure in do of ${a.path}`));
    writeDurably(a.path, a.content);
    return { bytes: Buffer.byteLength(a.content) };
  },
  verify: async (a) => {
    if (a.failIn === 'verify') throw new VerificationError(`injected verify failure of ${a.path}`);
    let actual: string | undefined;
    try {
      actual = fs.readFileSync(a.path, 'utf8');
    } catch {
      actual = undefined;
    }
    if (actual !== a.content) throw new VerificationError(`${a.path} does not hold the written content`, { path: a.path });
  },
  undo: async (a, before, _after, ctx) => {
    if (a.failIn === 'undo') throw new Error(`injected failure in undo of ${a.path}`);
    if (a.killIn === 'undo' && fs.existsSync(a.path)) writeDurably(a.path, 'half-undone');
    maybeKill(a, 'undo');
    if (before.existed) writeDurably(a.path, (await ctx.blobs.read(before.blob)).toString('utf8'));
    else if (fs.existsSync(a.path)) {
      fs.rmSync(a.path);
      syncDirectory(dirname(a.path));
    }
  },
  verifyUndo: async (a, before, ctx) => {
    const exists = fs.existsSync(a.path);
    if (exists !== before.existed || (before.existed && !fs.readFileSync(a.path).equals(await ctx.blobs.read(before.blob)))) {
      throw new VerificationError(`${a.path} is not back to its before-state`, { path: a.path });
    }
  },
});

/**
 * A real-disk test step with a commit action: `do` renames the file aside
 * (staged removal), `undo` renames it back, `commit` deletes it for good.
 *
 * @example
 * ```ts
 * tx.add(stagedRemove({ path: join(dir, 'old.log') }));
 * ```
 */
export const stagedRemove = defineStep({
  type: 'test.stagedRemove',
  package: '@unwind/core/testing',
  args: t.type({ path: t.string }),
  before: t.type({ existed: t.boolean }),
  describe: (a) => `remove ${a.path} (staged)`,
  prepare: async (a) => ({ existed: fs.existsSync(a.path) }),
  do: async (a, before) => {
    if (before.existed) {
      fs.renameSync(a.path, `${a.path}.staged`);
      syncDirectory(dirname(a.path));
    }
  },
  verify: async (a, before) => {
    if (before.existed && fs.existsSync(a.path)) throw new VerificationError(`${a.path} still exists`);
  },
  undo: async (a) => {
    if (fs.existsSync(`${a.path}.staged`)) {
      fs.renameSync(`${a.path}.staged`, a.path);
      syncDirectory(dirname(a.path));
    }
  },
  commit: async (a) => {
    fs.rmSync(`${a.path}.staged`, { force: true });
    syncDirectory(dirname(a.path));
  },
});

/**
 * Every step kind in `@unwind/core/testing`, for `recover({ kinds })`.
 *
 * @example
 * ```ts
 * const report = await recover({ root: journalRoot, kinds: [...filesKinds, ...testKinds] });
 * ```
 */
export const testKinds = [failingStep, noopStep, paddedResultStep, writeMarker, stagedRemove];
