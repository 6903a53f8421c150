import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recover, runCommand, withPrograms } from '@unwind/core';
import { killAtEveryOperation, testKinds, treeState, type KillWorld, type RunStepsConfig } from '@unwind/core/testing';
import { kinds } from '../src/index.js';
import { lingerSandbox } from './helpers.js';

// SIGKILL a transaction that turns linger on for one user and off for another after each of its mutating
// operations in turn — every file-system call of the journal and each loginctl's end — and inside the
// loginctl that creates a linger file (before each of its file-changing system calls, through strace),
// then recover() in this process: the linger directory is exactly as before (or after, past the commit
// point), and a second recover() changes nothing. loginctl here is a stub that edits a private linger
// directory (the real one acts on the machine's logind: logind.machine.test.ts); what is killed is unwind's
// order of commands, journal records and directory syncs, which is the same for both.
// A seeded sample runs in the test command (UNWIND_KILL_SEED replays, UNWIND_KILL_POINTS=0 runs all).

const kindsModule = resolve(import.meta.dirname, '../src/index.ts');
const allKinds = [...kinds, ...testKinds];

function arrange(rollback: boolean): KillWorld<RunStepsConfig> {
  const s = lingerSandbox();
  fs.writeFileSync(join(s.lingerDir, 'bob'), '');
  const journalRoot = join(s.root, 'journal');
  const programs = { loginctl: s.loginctl };
  return {
    config: {
      name: 'linger kill points', journalRoot, kindsModule, retention: 'keep', rollback, programs,
      steps: [
        { type: 'linger.enable', args: { user: 'alice', lingerDir: s.lingerDir, loginctl: s.loginctl } },
        { type: 'linger.disable', args: { user: 'bob', lingerDir: s.lingerDir, loginctl: s.loginctl } },
      ],
    },
    roots: [s.root],
    journalRoot,
    state: () => treeState(s.lingerDir),
    // Recovery never runs a program named in a journal: loginctl is mapped to the stub here, as an installer maps it.
    recover: () => recover({ root: journalRoot, kinds: allKinds, exec: withPrograms(runCommand, programs) }),
    cleanup: () => s.cleanup(),
  };
}

describe('linger: a kill after every mutating operation, and inside loginctl, then recover()', () => {
  it.each([
    ['a committing run (enable, disable)', false],
    ['a run that rolls back (enable, disable, then both undone)', true],
  ])('%s', async (_what, rollback) => {
    const report = await killAtEveryOperation({ name: `linger, ${rollback ? 'rolled back' : 'committed'}`, arrange: () => arrange(rollback), traced: ['loginctl'], budget: 12 });
    expect(report.commands).toBe(rollback ? 4 : 2);
    expect(report.insidePoints).toBeGreaterThan(0);
    expect(report.checked.length).toBeGreaterThanOrEqual(12); // all of them with UNWIND_KILL_POINTS=0
    if (rollback) expect(report.afterCommitPoint).toBe(0);
    expect(report.failures).toEqual([]);
  }, 600_000);
});
