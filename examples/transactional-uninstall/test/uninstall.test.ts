import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError, defineStep, type TransactionEvent } from '@unwind/core';
import { failingStep, requireHere, testKinds, treeState } from '@unwind/core/testing';
import { recoverUninstall, uninstall, type UninstallOptions } from '../src/uninstall.js';
import { cannotChattr, cannotMount, chattr, makeSandbox, mountTmpfs, type Sandbox } from './helpers.js';

/** A step whose prepare refuses: it never changes anything. */
const refusesInPrepare = defineStep({
  type: 'exampletest.refusesInPrepare',
  args: t.type({}),
  before: t.null,
  describe: () => 'refuse in prepare',
  prepare: async (): Promise<null> => {
    throw new InvalidInputError('the disk is read-only', {});
  },
  do: async () => {},
  undo: async () => {},
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function sandbox(): Sandbox {
  const s = makeSandbox();
  cleanups.push(s.remove);
  return s;
}

const base = (s: Sandbox, extra: Partial<UninstallOptions> = {}): UninstallOptions => ({ stateDir: s.stateDir, journalRoot: s.journalRoot, handleSignals: false, ...extra });
const under = (prefix: string) => (e: { path: string }) => e.path === prefix || e.path.startsWith(`${prefix}/`);
const stagingLeft = (s: Sandbox) => fs.readdirSync(join(s.home, 'user')).filter((n) => n.startsWith('.unwind-staging-'));

/** Groups the seeded sandbox stages without keep flags: seven groups and the emptied state directory. */
const GROUPS = 8;
/** The server check comes first, then one step per group. */
const PROGRAM_STEPS = GROUPS + 1;

describe('transactional uninstall: clean runs', () => {
  it('removes every group and then the state directory; nothing is left staged', async () => {
    const s = sandbox();
    const before = s.state();
    const result = await uninstall(base(s));
    expect(result.status, result.message).toBe('committed');
    expect(result.outcome?.steps).toHaveLength(PROGRAM_STEPS);
    expect(fs.existsSync(s.stateDir)).toBe(false);
    // The state directory's parent is exactly as before, minus the state directory.
    expect(s.state()).toEqual(before.filter((e) => !under('user/.memtomem')(e)));
    expect(stagingLeft(s)).toEqual([]);
    expect(result.message).toContain('Done: all 9 steps applied and verified.');
    expect(result.message).toContain(`The state directory ${s.stateDir} is gone.`);
  });

  it('--keep-config: the configuration is never moved; everything else goes; the state directory stays', async () => {
    const s = sandbox();
    const before = s.state();
    const moved: string[] = [];
    const result = await uninstall(base(s, { keepConfig: true, onEvent: (e: TransactionEvent) => void (e.type === 'step:start' && moved.push(e.description)) }));
    expect(result.status, result.message).toBe('committed');
    const keptPaths = (e: { path: string }) => e.path === '.' || e.path === 'user' || e.path === 'user/.memtomem' || under('user/.memtomem/config.json')(e) || under('user/.memtomem/config.d')(e);
    expect(s.state()).toEqual(before.filter(keptPaths));
    expect(moved.join('\n')).not.toContain('config');
    expect(result.message).toContain('Kept in');
    expect(result.message).toContain('config (never moved)');
  });

  it('--keep-data: memories, uploads and the database stay byte-for-byte; the rest goes', async () => {
    const s = sandbox();
    const before = s.state();
    const result = await uninstall(base(s, { keepData: true }));
    expect(result.status, result.message).toBe('committed');
    const data = ['memories', 'uploads', 'memtomem.db', 'memtomem.db-wal'].map((n) => under(`user/.memtomem/${n}`));
    const keptPaths = (e: { path: string }) => ['.', 'user', 'user/.memtomem'].includes(e.path) || data.some((d) => d(e));
    expect(s.state()).toEqual(before.filter(keptPaths));
  });

  it('a file the inventory does not know keeps the state directory (and itself) in place', async () => {
    const s = sandbox();
    fs.writeFileSync(join(s.stateDir, 'notes-by-hand.txt'), 'mine\n');
    const result = await uninstall(base(s));
    expect(result.status, result.message).toBe('committed');
    expect(fs.readdirSync(s.stateDir)).toEqual(['notes-by-hand.txt']);
    expect(result.message).toContain('not part of the inventory (notes-by-hand.txt)');
  });

  it('a dry run lists the groups and touches nothing (not even the journal root)', async () => {
    const s = sandbox();
    const before = treeState(s.base);
    const result = await uninstall(base(s, { dryRun: true, keepData: true }));
    expect(result.status).toBe('planned');
    expect(result.message).toContain('backups: remove');
    expect(result.message).toContain('Kept: memories, uploads, database.');
    expect(treeState(s.base)).toEqual(before);
  });

  it('refuses a journal or a staging directory inside the state directory, before touching anything', async () => {
    const s = sandbox();
    const before = treeState(s.base);
    const a = await uninstall(base(s, { journalRoot: join(s.stateDir, 'journal') }));
    const b = await uninstall(base(s, { stagingDir: join(s.stateDir, 'staging') }));
    expect([a.status, b.status]).toEqual(['refused', 'refused']);
    expect(a.message).toContain('must not lie inside the state directory');
    expect(treeState(s.base)).toEqual(before);
  });
});

describe('transactional uninstall: a failure at each step puts everything back', () => {
  it(`a failure injected after each of 0..${GROUPS} staged groups leaves the sandbox byte-for-byte as before`, async () => {
    for (let n = 0; n <= GROUPS; n++) {
      const s = sandbox();
      const before = s.state();
      const result = await uninstall(base(s, { inject: [{ afterStep: n + 1, step: failingStep({ message: `injected after ${n} groups` }) }], extraKinds: testKinds }));
      expect(result.status, `after ${n}: ${result.message}`).toBe('rolled-back');
      expect(result.outcome?.steps.filter((x) => x.type === 'files.remove' && x.status === 'undone')).toHaveLength(n);
      expect(s.state(), `failure after ${n} staged groups`).toEqual(before);
      expect(result.message).toContain(`failed: fail on purpose (injected after ${n} groups)`);
      expect(result.message).toMatch(/Rolled back \d+ steps?, newest first/);
      expect(result.message).toContain('Nothing was removed');
      expect(result.message).toContain('is exactly as before');
    }
  });

  it('the same with --keep-config and --keep-data: kept paths never move and all is as before', async () => {
    for (const n of [0, 1, 3]) {
      const s = sandbox();
      const before = s.state();
      const result = await uninstall(base(s, { keepConfig: true, keepData: true, inject: [{ afterStep: n + 1, step: failingStep({ message: 'injected' }) }], extraKinds: testKinds }));
      expect(result.status).toBe('rolled-back');
      expect(s.state()).toEqual(before);
    }
  });

  const noChattr = cannotChattr();
  it('a real failure while staging the third group (backups is immutable: EPERM) moves the first two back', async () => {
    requireHere(noChattr, 'chattr +i (the immutable attribute)');
    const s = sandbox();
    const before = s.state();
    chattr('+i', join(s.stateDir, 'backups'));
    cleanups.push(() => chattr('-i', join(s.stateDir, 'backups')));
    const result = await uninstall(base(s));
    expect(result.status, result.message).toBe('rolled-back');
    // The failing step is undone too (its do may have moved part of the group).
    expect(result.outcome?.steps.map((x) => x.status).slice(0, 5)).toEqual(['undone', 'undone', 'undone', 'undone', 'not-started']);
    expect(result.outcome?.steps[3]?.error?.message).toMatch(/EPERM|not permitted/);
    expect(s.state()).toEqual(before);
    expect(stagingLeft(s)).toEqual([]);
    expect(result.message).toMatch(/Step 4 of 9 failed: remove .*backups: .*(EPERM|not permitted)/);
    expect(result.message).toContain('Rolled back 4 steps');
  });

  const noMount = cannotMount();
  it('a mount point inside a group is refused before anything moves', async () => {
    requireHere(noMount, 'mounting a tmpfs');
    const s = sandbox();
    cleanups.push(mountTmpfs(join(s.stateDir, 'uploads', 'empty'), '1m'));
    const before = s.state();
    const result = await uninstall(base(s));
    expect(result.status).toBe('refused');
    expect(result.outcome).toBeUndefined();
    expect(result.message).toContain('is or contains the mount point');
    expect(s.state()).toEqual(before);
  });
});

describe('transactional uninstall: a running server refuses it', () => {
  it('server.pid names a live process: refused (exit 4) with the pid and command, nothing moved; once it stops the uninstall runs', async () => {
    const s = sandbox();
    const server = spawn('sleep', ['300'], { stdio: 'ignore' });
    cleanups.push(() => server.kill('SIGKILL'));
    fs.writeFileSync(join(s.stateDir, 'server.pid'), `${server.pid}\n`);
    const before = s.state();
    const result = await uninstall(base(s));
    expect(result.status, result.message).toBe('refused');
    expect(result.exitCode).toBe(4);
    expect(result.message).toContain(`the server is running (pid ${server.pid}: sleep 300, from ${join(s.stateDir, 'server.pid')})`);
    expect(result.message).toContain('Nothing was changed');
    expect(result.message).not.toContain('Rolled back');
    expect(result.outcome?.steps[0]?.error?.code).toBe('SERVER_RUNNING');
    expect(result.outcome?.steps.slice(1).every((x) => x.status === 'not-started')).toBe(true);
    expect(s.state()).toEqual(before);
    expect(stagingLeft(s)).toEqual([]);
    // The pid file of a server that has exited is a crash's leftover, not a live writer.
    server.kill('SIGKILL');
    await once(server, 'exit');
    const after = await uninstall(base(s));
    expect(after.status, after.message).toBe('committed');
  });

  it('any refusal in a prepare before a change (here after the server check passed) is refused, exit 4, not rolled back', async () => {
    const s = sandbox();
    const before = s.state();
    const result = await uninstall(base(s, { inject: [{ afterStep: 1, step: refusesInPrepare({}) }], extraKinds: [refusesInPrepare] }));
    expect(result.status, result.message).toBe('refused');
    expect(result.exitCode).toBe(4);
    expect(result.message).toContain('Refused: the disk is read-only');
    expect(s.state()).toEqual(before);
    // A failure in do after the check is a real rollback, as before.
    const other = sandbox();
    const rolled = await uninstall(base(other, { inject: [{ afterStep: 1, step: failingStep({ message: 'in do' }) }], extraKinds: testKinds }));
    expect(rolled.status).toBe('rolled-back');
    expect(rolled.exitCode).toBe(1);
  });
});

describe('transactional uninstall: moving back fails', () => {
  it('keeps the staging directory, says exactly how to recover, and recovery then restores everything', async () => {
    const s = sandbox();
    const before = s.state();
    const intruder = join(s.stateDir, 'fragments');
    // Something re-creates an original path while the rollback starts: moving group 2 back must not clobber it.
    const onEvent = (e: TransactionEvent) => {
      if (e.type === 'rollback:start') fs.writeFileSync(intruder, 'written by someone else\n');
    };
    const result = await uninstall(base(s, { onEvent, recoverCommand: 'uninstall recover', inject: [{ afterStep: 3, step: failingStep({ message: 'disk went away' }) }], extraKinds: testKinds }));
    expect(result.status, result.message).toBe('rollback-failed');
    expect(result.exitCode).toBe(2);
    const staging = stagingLeft(s);
    expect(staging.length).toBeGreaterThan(0);
    const msg = result.message;
    expect(msg).toContain('failed: fail on purpose (disk went away)');
    expect(msg).toContain('The rollback could not finish');
    // The undo is compare-and-swap: what now stands at the original path is never overwritten.
    expect(msg).toContain(`${intruder} changed since this transaction changed it`);
    expect(msg).toContain('not touched');
    expect(staging.sort()).toEqual([expect.stringMatching(/-1$/), expect.stringMatching(/-2$/)]);
    expect(msg).toContain(`this step moved it to ${join(s.home, 'user', staging[1]!)}/0`);
    expect(msg).toContain(`still in ${join(s.home, 'user', staging[1]!)}, ${join(s.home, 'user', staging[0]!)}`);
    expect(msg).toContain('Nothing is lost');
    expect(msg).toContain('then run: uninstall recover');
    // The person follows the instructions: removes the intruder, runs recovery.
    fs.rmSync(intruder);
    const report = await recoverUninstall({ journalRoot: s.journalRoot, extraKinds: testKinds });
    expect(report.ok).toBe(true);
    expect(report.transactions[0]?.result).toBe('rolled-back');
    expect(s.state()).toEqual(before);
  });

  it('running the uninstall again after a stuck rollback first finishes the rollback, then uninstalls completely', async () => {
    const s = sandbox();
    const intruder = join(s.stateDir, 'run');
    const onEvent = (e: TransactionEvent) => {
      if (e.type === 'rollback:start') fs.writeFileSync(intruder, 'in the way\n');
    };
    const first = await uninstall(base(s, { onEvent, inject: [{ afterStep: 2, step: failingStep({ message: 'x' }) }], extraKinds: testKinds }));
    expect(first.status).toBe('rollback-failed');
    // While the cause is still there, a new run refuses and changes nothing.
    const stuck = s.state();
    const again = await uninstall(base(s, { extraKinds: testKinds }));
    expect(again.status).toBe('refused');
    expect(again.message).toContain('still unfinished');
    expect(s.state()).toEqual(stuck);
    fs.rmSync(intruder);
    const last = await uninstall(base(s, { extraKinds: testKinds }));
    expect(last.status, last.message).toBe('committed');
    expect(last.message).toContain('was found and rolled back first');
    expect(fs.existsSync(s.stateDir)).toBe(false);
    expect(stagingLeft(s)).toEqual([]);
  });
});
