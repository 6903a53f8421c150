// The desired state as quadlet-deploy keeps it: a git repository, fetched and
// hard-reset to the wanted branch at the start of a run — here as a step of
// the run's transaction, so it happens under the run's lock and a failed run
// puts the checkout back on the commit it had.
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import * as t from 'io-ts';
import { InvalidInputError, NonRetryableError, VerificationError, defaultEnv, defineStep, validateAbsolutePath, type StepContext } from '@unwind/core';

const Args = t.type({
  /** Where to fetch from: a URL git understands, or an absolute path to a repository. */
  repository: t.string,
  /** The branch whose tip is the desired state. */
  branch: t.string,
  /** The local checkout (absolute); made by the first run. */
  checkout: t.string,
});

/** git with a clean environment, never prompting, always bounded in time. */
async function git(ctx: StepContext, args: string[], cwd?: string): Promise<string> {
  const r = await ctx.exec({
    argv: ['git', ...(cwd ? ['-C', cwd] : []), ...args],
    env: { ...defaultEnv(), GIT_TERMINAL_PROMPT: '0', HOME: process.env.HOME ?? '/root' },
    timeoutMs: 120_000,
    signal: ctx.signal,
  });
  return r.stdout.trim();
}

/**
 * Fetches the desired-state repository and hard-resets the checkout to the
 * branch's tip. A checkout with local changes is refused before anything
 * changes (they would be lost). Undo puts the checkout back on the commit it
 * had (or removes a checkout this step cloned).
 *
 * @example
 * ```ts
 * tx.add(fetchDesired({ repository: 'https://git.example.org/ops/containers.git', branch: 'main', checkout: '/var/lib/container-reconciler/desired' }));
 * ```
 */
export const fetchDesired = defineStep({
  type: 'containers.fetchDesired',
  package: '@unwind/example-container-reconciler',
  args: Args,
  before: t.type({ commit: t.union([t.string, t.null]) }),
  after: t.type({ commit: t.string }),
  validate: (a) => {
    validateAbsolutePath(a.checkout, { what: 'desired-state checkout' });
    if (a.repository === '' || a.repository.startsWith('-')) throw new InvalidInputError(`${JSON.stringify(a.repository)} is not a repository`, { repository: a.repository });
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(a.branch) || a.branch.includes('..')) throw new InvalidInputError(`${JSON.stringify(a.branch)} is not a branch name`, { branch: a.branch });
  },
  describe: (a) => `fetch ${a.repository} ${a.branch} into ${a.checkout} (reset to its tip)`,
  prepare: async (a, ctx) => {
    if (!fs.existsSync(a.checkout)) {
      if (!fs.statSync(dirname(a.checkout), { throwIfNoEntry: false })?.isDirectory()) throw new NonRetryableError(new Error(`the directory of ${a.checkout} does not exist`));
      return { commit: null };
    }
    const status = await git(ctx, ['status', '--porcelain', '--untracked-files=all'], a.checkout);
    if (status !== '') throw new NonRetryableError(new Error(`${a.checkout} has local changes a reset would lose; nothing was changed:\n${status}`));
    return { commit: await git(ctx, ['rev-parse', 'HEAD'], a.checkout) };
  },
  do: async (a, before, ctx) => {
    if (before.commit === null) await git(ctx, ['clone', '--quiet', '--no-checkout', '--', a.repository, a.checkout]);
    await git(ctx, ['fetch', '--quiet', '--prune', '--', a.repository, `+refs/heads/${a.branch}:refs/remotes/desired/${a.branch}`], a.checkout);
    await git(ctx, ['reset', '--quiet', '--hard', `refs/remotes/desired/${a.branch}`], a.checkout);
    return { commit: await git(ctx, ['rev-parse', 'HEAD'], a.checkout) };
  },
  verify: async (a, _before, after, ctx) => {
    const head = await git(ctx, ['rev-parse', 'HEAD'], a.checkout);
    const status = await git(ctx, ['status', '--porcelain', '--untracked-files=all'], a.checkout);
    if (head !== after.commit || status !== '') throw new VerificationError(`${a.checkout} is not clean at ${after.commit}`, { checkout: a.checkout, head });
  },
  undo: async (a, before, _after, ctx) => {
    if (before.commit === null) {
      fs.rmSync(a.checkout, { recursive: true, force: true });
      return;
    }
    if (!fs.existsSync(a.checkout)) return;
    await git(ctx, ['reset', '--quiet', '--hard', before.commit], a.checkout);
  },
  verifyUndo: async (a, before, ctx) => {
    if (before.commit === null) {
      if (fs.existsSync(a.checkout)) throw new VerificationError(`${a.checkout} is still there`, { checkout: a.checkout });
      return;
    }
    const head = await git(ctx, ['rev-parse', 'HEAD'], a.checkout);
    if (head !== before.commit) throw new VerificationError(`${a.checkout} is at ${head}, not back at ${before.commit}`, { checkout: a.checkout });
  },
});
