// The desired state from a git repository (a local bare repository, the real
// git program): fetched and reset inside a transaction, put back when the run fails.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileJournal, runCommand, transaction, type CommandRunner } from '@unwind/core';
import { failingStep, temporaryDirectory, treeState } from '@unwind/core/testing';
import { fetchDesired } from '../src/desired-git.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const ENV = { ...process.env, GIT_AUTHOR_NAME: 'ops', GIT_AUTHOR_EMAIL: 'ops@example.org', GIT_COMMITTER_NAME: 'ops', GIT_COMMITTER_EMAIL: 'ops@example.org' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-C', cwd, ...args], { env: ENV, encoding: 'utf8' }).trim();

/** A bare repository with one commit of desired state on main, and a work clone to push more. */
function repositories() {
  const dir = temporaryDirectory('unwind-desired-git-');
  cleanups.push(dir.remove);
  const bare = join(dir.path, 'containers.git');
  const work = join(dir.path, 'work');
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  execFileSync('git', ['clone', '--quiet', bare, work], { env: ENV });
  const commit = (file: string, content: string) => {
    fs.mkdirSync(join(work, file, '..'), { recursive: true });
    fs.writeFileSync(join(work, file), content);
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', `desired: ${file}`);
    git(work, 'push', '--quiet', 'origin', 'HEAD:main');
    return git(work, 'rev-parse', 'HEAD');
  };
  const first = commit('web/web.container', '[Container]\nImage=docker.io/library/nginx:1.27\n');
  return { dir: dir.path, bare, checkout: join(dir.path, 'desired'), journal: join(dir.path, 'journal'), commit, first };
}

/** What a run needs of a repository set. */
type Repositories = Pick<ReturnType<typeof repositories>, 'bare' | 'checkout' | 'journal'>;

/**
 * A copy of a repository set in a new temporary directory: byte for byte what making it again
 * would give (a `git fetch` and a first clone take the repository by its path; the checkout's
 * own remote is never used), for a fraction of the git processes.
 */
function copyOf(r: ReturnType<typeof repositories>): Repositories {
  const dir = temporaryDirectory('unwind-desired-git-');
  cleanups.push(dir.remove);
  fs.cpSync(r.dir, dir.path, { recursive: true, verbatimSymlinks: true });
  const moved = (path: string) => join(dir.path, path.slice(r.dir.length + 1));
  return { bare: moved(r.bare), checkout: moved(r.checkout), journal: moved(r.journal) };
}

async function run(r: Repositories, failAfter = false, exec?: CommandRunner) {
  const tx = transaction('fetch desired state', { journal: fileJournal({ root: r.journal }), handleSignals: false, ...(exec ? { exec } : {}) });
  tx.add(fetchDesired({ repository: r.bare, branch: 'main', checkout: r.checkout }));
  if (failAfter) tx.add(failingStep({ message: 'a later step failed' }));
  return tx.run();
}

describe('desired state from git, fetched and reset under the run\'s lock', () => {
  it('clones on the first run, resets to the new tip on the next; a failed run puts the checkout back on the commit it had', async () => {
    const r = repositories();
    expect((await run(r)).status).toBe('committed');
    expect(git(r.checkout, 'rev-parse', 'HEAD')).toBe(r.first);
    expect(fs.readFileSync(join(r.checkout, 'web', 'web.container'), 'utf8')).toContain('nginx:1.27');

    const second = r.commit('web/web.container', '[Container]\nImage=docker.io/library/nginx:1.28\n');
    const before = treeState(r.checkout, { ignore: (p) => p === '.git' });
    const failed = await run(r, true);
    expect(failed.status).toBe('rolled-back');
    expect(git(r.checkout, 'rev-parse', 'HEAD')).toBe(r.first);
    expect(treeState(r.checkout, { ignore: (p) => p === '.git' })).toEqual(before);

    expect((await run(r)).status).toBe('committed');
    expect(git(r.checkout, 'rev-parse', 'HEAD')).toBe(second);
    expect(fs.readFileSync(join(r.checkout, 'web', 'web.container'), 'utf8')).toContain('nginx:1.28');
  });

  it('a failed first run removes the checkout it cloned', async () => {
    const r = repositories();
    const outcome = await run(r, true);
    expect(outcome.status).toBe('rolled-back');
    expect(fs.existsSync(r.checkout)).toBe(false);
  });

  it('a checkout with local changes is refused before anything changes (a reset would lose them)', async () => {
    const r = repositories();
    await run(r);
    r.commit('web/other.container', '[Container]\nImage=x\n');
    fs.appendFileSync(join(r.checkout, 'web', 'web.container'), '# edited by hand\n');
    const before = treeState(r.checkout);
    const outcome = await run(r);
    expect(outcome.status).not.toBe('committed');
    expect(outcome.steps[0]?.error?.message).toContain('has local changes a reset would lose');
    expect(treeState(r.checkout)).toEqual(before);
  });

  it('bad arguments are refused before anything runs', async () => {
    const r = repositories();
    for (const args of [{ repository: '--upload-pack=evil', branch: 'main' }, { repository: r.bare, branch: '../main' }]) {
      const tx = transaction('fetch', { journal: fileJournal({ root: r.journal }), handleSignals: false });
      tx.add(fetchDesired({ ...args, checkout: r.checkout }));
      const outcome = await tx.run();
      expect(outcome.status).toBe('refused');
    }
    expect(fs.existsSync(r.checkout)).toBe(false);
  });

  it.each(['a first clone', 'a fetch into the checkout'] as const)('%s: each git command fails after it ran (the change made) → the checkout is as it was (absent, or on its commit, clean)', async (variant) => {
    /** A repository set, with the checkout already made for the second variant and a new tip to fetch: made once, copied for each run. */
    const template = repositories();
    if (variant === 'a fetch into the checkout') expect((await run(template)).status).toBe('committed');
    template.commit('tailnet/api.container', '[Container]\nImage=docker.io/library/api:1\n');
    const arrange = async () => copyOf(template);
    const stateOf = (r: Repositories) => (fs.existsSync(r.checkout) ? { head: git(r.checkout, 'rev-parse', 'HEAD'), tree: treeState(r.checkout, { ignore: (p) => p === '.git' }), status: git(r.checkout, 'status', '--porcelain', '--untracked-files=all') } : 'no checkout');
    // A clean run, to learn the git commands the step runs, in order.
    const calls: string[][] = [];
    const recording: CommandRunner = (spec) => {
      calls.push([...spec.argv]);
      return runCommand(spec);
    };
    expect((await run(await arrange(), false, recording)).status).toBe('committed');
    expect(calls.length).toBeGreaterThanOrEqual(variant === 'a first clone' ? 4 : 5);
    for (const [index, call] of calls.entries()) {
      const r = await arrange();
      const before = stateOf(r);
      let seen = 0;
      const faulty: CommandRunner = async (spec) => {
        const result = await runCommand(spec);
        if (seen++ !== index) return result;
        return runCommand({ ...spec, argv: ['sh', '-c', "echo 'injected failure' >&2; exit 3"] });
      };
      const outcome = await run(r, false, faulty);
      expect(seen, `the fault at ${call.join(' ')} was reached`).toBeGreaterThan(index);
      expect(['rolled-back', 'refused'], `${call.join(' ')}: ${outcome.status}`).toContain(outcome.status);
      expect(stateOf(r), `git call ${index + 1} (${call.slice(1).join(' ')}) failed`).toEqual(before);
    }
  });
});
