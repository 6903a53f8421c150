import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type CommandRunner, type Outcome, type Step } from '@unwind/core';
import { failingStep, requireHere } from '@unwind/core/testing';
import { addToGroup, ensureGroup, ensureUser, kinds, removeFromGroup, removeUser } from '../src/index.js';
import { faultyExec, freeUid, keepMachineDatabaseUnchanged, prefixRoot, SHADOW_TOOLS, skipReason, type Fault, type PrefixRoot } from './helpers.js';

keepMachineDatabaseUnchanged();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStep = Step<any, any, any>;
const quick = { retry: { do: { retries: 1, minTimeout: 10 }, undo: { retries: 1, minTimeout: 10 } } };

function run(steps: AnyStep[], exec: CommandRunner, onRollback?: () => void): Promise<Outcome> {
  const tx = transaction('users test', { journal: memoryJournal(), handleSignals: false, exec, retry: quick.retry });
  if (onRollback) tx.on((e) => e.type === 'rollback:start' && onRollback());
  for (const s of steps) tx.add(s);
  return tx.run();
}

let p: PrefixRoot | undefined;
afterEach(() => {
  p?.cleanup();
  p = undefined;
});

describe('bad input is refused before any command runs', () => {
  const bad = ['al ice', 'a;id', 'a|b', '$(id)', '`id`', '-rf', '--help', 'a/b', '../etc', 'x'.repeat(33), 'Alice', '', 'a\nb'];
  const cases: Array<[string, (name: string) => AnyStep]> = [
    ['users.ensureUser name', (n) => ensureUser({ name: n })],
    ['users.ensureUser primary group', (n) => ensureUser({ name: 'alice', group: n })],
    ['users.ensureUser groups', (n) => ensureUser({ name: 'alice', groups: ['users', n] })],
    ['users.removeUser name', (n) => removeUser({ name: n })],
    ['users.ensureGroup name', (n) => ensureGroup({ name: n })],
    ['users.addToGroup user', (n) => addToGroup({ user: n, group: 'users' })],
    ['users.addToGroup group', (n) => addToGroup({ user: 'alice', group: n })],
    ['users.removeFromGroup user', (n) => removeFromGroup({ user: n, group: 'users' })],
    ['users.removeFromGroup group', (n) => removeFromGroup({ user: 'alice', group: n })],
  ];
  for (const [what, make] of cases) {
    it(`${what}`, async () => {
      for (const name of bad) {
        const { exec, calls } = faultyExec();
        const outcome = await run([make(name)], exec);
        expect(outcome.status, JSON.stringify(name)).toBe('refused');
        expect(outcome.status === 'refused' && outcome.cause.code).toBe('INVALID_INPUT');
        expect(calls).toEqual([]);
      }
    });
  }

  it('bad fields: a relative prefix, a home with ":", a shell with a newline, a negative uid', async () => {
    const steps = [
      ensureUser({ name: 'alice', prefix: 'relative/root' }),
      ensureUser({ name: 'alice', home: '/home/a:b' }),
      ensureUser({ name: 'alice', shell: '/bin/sh\nroot::0:0::/:/bin/sh' }),
      ensureUser({ name: 'alice', uid: -1 }),
      ensureGroup({ name: 'g', gid: 1.5 }),
      removeUser({ name: 'alice', lingerDir: 'linger' }),
      removeUser({ name: 'alice', protect: ['-x'] }),
    ];
    for (const step of steps) {
      const { exec, calls } = faultyExec();
      const outcome = await run([step], exec);
      expect(outcome.status).toBe('refused');
      expect(calls).toEqual([]);
    }
  });

  it('every kind is exported in `kinds`', () => {
    expect(kinds.map((k) => k.type).sort()).toEqual(['users.addToGroup', 'users.ensureGroup', 'users.ensureUser', 'users.removeFromGroup', 'users.removeUser']);
  });
});

describe('protected users are refused before anything is touched', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
  async function refuse(step: AnyStep, root: PrefixRoot) {
    const before = root.state();
    const { exec, calls } = faultyExec();
    const outcome = await run([step], exec);
    expect(outcome.status === 'refused' || outcome.status === 'rolled-back').toBe(true);
    expect('cause' in outcome && outcome.cause.code).toBe('PROTECTED_USER');
    expect(calls.filter((c) => SHADOW_TOOLS.includes(c[0]!) || c[0] === 'pkill')).toEqual([]);
    expect(root.state()).toEqual(before);
    return outcome;
  }

  it('root, whatever the input says', async () => {
    p = prefixRoot();
    expect((await refuse(removeUser({ name: 'root', prefix: p.root, removeHome: true }), p)).status).toBe('refused');
    await refuse(ensureUser({ name: 'root', prefix: p.root, shell: '/bin/false' }), p);
    await refuse(removeFromGroup({ user: 'root', group: 'root', prefix: p.root }), p);
  });

  it('a system account below UID_MIN (daemon)', async () => {
    p = prefixRoot();
    await refuse(removeUser({ name: 'daemon', prefix: p.root }), p);
    await refuse(ensureUser({ name: 'daemon', prefix: p.root, shell: '/bin/bash' }), p);
  });

  it('a deny-listed normal user', async () => {
    p = prefixRoot();
    p.sh('useradd', '-m', '-u', String(freeUid()), 'carol');
    const protect = ['carol'];
    expect((await refuse(removeUser({ name: 'carol', prefix: p.root, protect }), p)).status).toBe('refused');
    p.sh('groupadd', 'managed');
    p.sh('usermod', '-a', '-G', 'managed', 'carol');
    await refuse(removeFromGroup({ user: 'carol', group: 'managed', prefix: p.root, protect }), p);
    await refuse(ensureUser({ name: 'carol', prefix: p.root, protect, shell: '/bin/false' }), p);
  });

  it("UID_MIN comes from the prefix's login.defs", async () => {
    p = prefixRoot();
    const uid = freeUid();
    p.sh('useradd', '-m', '-u', String(uid), 'carol');
    const defs = join(p.root, 'etc/login.defs');
    fs.writeFileSync(defs, fs.readFileSync(defs, 'utf8').replace(/^UID_MIN\s+\d+/m, `UID_MIN ${uid + 1}`));
    await refuse(removeUser({ name: 'carol', prefix: p.root }), p);
  });

  it('a protected user that needs no change is fine for ensureUser', async () => {
    p = prefixRoot();
    const { exec } = faultyExec();
    expect((await run([ensureUser({ name: 'daemon', prefix: p.root })], exec)).status).toBe('committed');
  });
});

interface Case {
  name: string;
  /** Arranges the prefix root; returns the step under test. */
  arrange: (p: PrefixRoot, uid: number, opts?: typeof quick) => AnyStep;
  /** The tool `do` runs, and the one `undo` runs (none: removeUser's undo puts entries back by editing the files under the shadow lock). */
  doTool: string;
  undoTool?: string;
}

const cases: Case[] = [
  { name: 'ensureUser (new)', doTool: 'useradd', undoTool: 'userdel', arrange: (p, uid, opts = quick) => ensureUser({ name: 'alice', prefix: p.root, uid, groups: ['users'] }, opts) },
  {
    name: 'ensureUser (changed)',
    doTool: 'usermod',
    undoTool: 'usermod',
    arrange: (p, uid, opts = quick) => {
      p.sh('useradd', '-m', '-u', String(uid), '-s', '/bin/sh', 'alice');
      return ensureUser({ name: 'alice', prefix: p.root, shell: '/bin/bash', groups: ['users'] }, opts);
    },
  },
  {
    name: 'removeUser',
    doTool: 'userdel',
    arrange: (p, uid, opts = quick) => {
      p.sh('useradd', '-m', '-u', String(uid), 'bob');
      p.sh('usermod', '-a', '-G', 'users', 'bob');
      fs.writeFileSync(join(p.lingerDir, 'bob'), '');
      return removeUser({ name: 'bob', prefix: p.root, removeHome: true, graceMs: 100 }, opts);
    },
  },
  { name: 'ensureGroup', doTool: 'groupadd', undoTool: 'groupdel', arrange: (p, _uid, opts = quick) => ensureGroup({ name: 'managed', prefix: p.root }, opts) },
  {
    name: 'addToGroup',
    doTool: 'usermod',
    undoTool: 'usermod',
    arrange: (p, uid, opts = quick) => {
      p.sh('useradd', '-M', '-u', String(uid), 'alice');
      return addToGroup({ user: 'alice', group: 'users', prefix: p.root }, opts);
    },
  },
  {
    name: 'removeFromGroup',
    doTool: 'usermod',
    undoTool: 'usermod',
    arrange: (p, uid, opts = quick) => {
      p.sh('useradd', '-M', '-u', String(uid), 'alice');
      p.sh('usermod', '-a', '-G', 'users', 'alice');
      return removeFromGroup({ user: 'alice', group: 'users', prefix: p.root }, opts);
    },
  },
];

describe('a failing or hanging command in do or undo', () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
  for (const c of cases) {
    for (const fault of ['fail', 'hang', 'fail-after'] as const) {
      it(`${c.name}: ${c.doTool} that ${fault}s in do → rolled back exactly, command, exit code and stderr reported`, async () => {
        p = prefixRoot();
        // No retry of do here: a retried idempotent do would notice the change and finish (tested below).
        const step = c.arrange(p, freeUid(), { retry: { ...quick.retry, do: { retries: 0, minTimeout: 10 } } });
        const before = p.state();
        const { exec, calls } = faultyExec((spec): Fault => (spec.argv[0] === c.doTool ? fault : undefined));
        const outcome = await run([step], exec);
        expect(outcome.status).toBe('rolled-back');
        const error = outcome.steps[0]!.error!;
        expect(error.code).toBe(fault === 'hang' ? 'COMMAND_TIMEOUT' : 'COMMAND_FAILED');
        expect(error.context!.argv).toEqual(expect.arrayContaining([c.doTool, '-P', p.root]));
        if (fault !== 'hang') {
          expect(error.context!.exitCode).toBe(3);
          expect(error.context!.stderr).toContain('injected failure');
        }
        expect(calls.filter((a) => a[0] === c.doTool).length).toBeGreaterThan(0);
        expect(p.state()).toEqual(before);
      });

      if (fault === 'fail-after') {
        it(`${c.name}: ${c.doTool} that fails after its change, with a retry → the idempotent do finishes and commits`, async () => {
          p = prefixRoot();
          const step = c.arrange(p, freeUid());
          let first = true;
          const { exec } = faultyExec((spec): Fault => (spec.argv[0] === c.doTool && first ? ((first = false), 'fail-after') : undefined));
          const outcome = await run([step], exec);
          expect(outcome.status).toBe('committed');
          expect(outcome.steps[0]!.attempts).toBe(2);
        });
      }

      if (c.undoTool) it(`${c.name}: ${c.undoTool} that ${fault}s in undo → ${fault === 'fail-after' ? 'the retried undo finishes: rolled back exactly' : "rollback-failed, the undo's command in the report"}`, async () => {
        p = prefixRoot();
        const step = c.arrange(p, freeUid());
        const before = p.state();
        let undoing = false;
        const { exec } = faultyExec((spec): Fault => (undoing && spec.argv[0] === c.undoTool ? fault : undefined));
        const outcome = await run([step, failingStep({ message: 'a later step fails' })], exec, () => (undoing = true));
        if (fault === 'fail-after') {
          // The first undo attempt did its work but reported failure; the retry must see that and finish.
          expect(outcome.status).toBe('rolled-back');
          expect(outcome.steps[0]!.undo!.attempts).toBe(2);
          expect(p.state()).toEqual(before);
          return;
        }
        expect(outcome.status).toBe('rollback-failed');
        if (outcome.status !== 'rollback-failed') return;
        expect(outcome.remaining).toEqual([0]);
        const error = outcome.steps[0]!.undo!.error!;
        expect(error.context!.argv).toEqual(expect.arrayContaining([c.undoTool, '-P', p.root]));
        if (fault === 'fail') expect(error.context!.exitCode).toBe(3);
        else expect(error.code).toBe('COMMAND_TIMEOUT');
      });
    }
  }
});

describe("another program's lock on the databases is met in prepare, before anything is touched", () => {
  beforeAll(() => requireHere(skipReason, 'root and the real shadow tools'));
  const LOCKABLE = ['passwd', 'shadow', 'group', 'gshadow'] as const;

  /** A live process whose pid is in `<file>.lock`, as a running shadow tool or vipw leaves it. */
  function holdLock(root: string, file: string): { pid: number; release: () => void } {
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    const lock = join(root, 'etc', `${file}.lock`);
    fs.writeFileSync(lock, String(holder.pid));
    return {
      pid: holder.pid!,
      release: () => {
        fs.rmSync(lock, { force: true });
        holder.kill('SIGKILL');
      },
    };
  }

  cases.forEach((c, index) => {
    const file = LOCKABLE[index % LOCKABLE.length]!;
    it(`${c.name}: ${file}.lock held by a live process — refused with ShadowLockError, no tool run, nothing changed`, async () => {
      p = prefixRoot();
      const step = c.arrange(p, freeUid());
      const before = p.state();
      const held = holdLock(p.root, file);
      try {
        const { exec, calls } = faultyExec();
        const outcome = await run([step], exec);
        // Failed in prepare: nothing was journaled as started, so there was nothing to undo.
        expect(outcome.status).toBe('rolled-back');
        expect(outcome.steps.map((s) => s.status)).toEqual(['failed']);
        expect('cause' in outcome && outcome.cause.code).toBe('SHADOW_LOCKED');
        expect('cause' in outcome && outcome.cause.message).toBe(`${join(p.root, 'etc', file)} is locked by pid ${held.pid}`);
        expect(calls.filter((call) => SHADOW_TOOLS.includes(call[0]!))).toEqual([]);
        expect(p.state()).toEqual(before);
        expect(fs.readFileSync(join(p.root, 'etc', `${file}.lock`), 'utf8')).toBe(String(held.pid));
      } finally {
        held.release();
      }
    });
  });

  it('a lock released during the wait, or left by a dead process, does not stop the step', async () => {
    p = prefixRoot();
    const { exec } = faultyExec();
    const held = holdLock(p.root, 'passwd');
    setTimeout(held.release, 300);
    const outcome = await run([ensureUser({ name: 'alice', prefix: p.root, uid: freeUid() })], exec);
    expect(outcome.status).toBe('committed');
    const dead = spawn('true');
    await new Promise((resolve) => dead.on('exit', resolve));
    fs.writeFileSync(join(p.root, 'etc', 'group.lock'), String(dead.pid));
    expect((await run([ensureGroup({ name: 'managed', prefix: p.root })], exec)).status).toBe('committed');
  });
});
