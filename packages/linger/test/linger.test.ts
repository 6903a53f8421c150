import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryJournal, transaction, type Outcome, type Step } from '@unwind/core';
import { conformanceSuite, failingStep, treeState } from '@unwind/core/testing';
import { disableLinger, enableLinger, isLingering, kinds } from '../src/index.js';
import { faultyExec, lingerSandbox } from './helpers.js';

function sandboxFor(initiallyOn: boolean, enabling: boolean) {
  return async () => {
    const s = lingerSandbox();
    const file = join(s.lingerDir, 'alice');
    if (initiallyOn) fs.writeFileSync(file, '');
    return {
      args: { user: 'alice', lingerDir: s.lingerDir, loginctl: s.loginctl },
      state: async () => treeState(s.lingerDir),
      cleanup: async () => s.cleanup(),
      // Behind the step's back: the opposite of what it set (also when it had nothing to do).
      breakChange: async () => (enabling ? fs.rmSync(file, { force: true }) : fs.writeFileSync(file, '')),
      ...(initiallyOn === enabling ? { unchanged: `linger is already ${enabling ? 'on' : 'off'}: do has nothing to do` } : {}),
    };
  };
}

conformanceSuite(enableLinger, { setup: sandboxFor(false, true) });
conformanceSuite(enableLinger, { setup: sandboxFor(true, true) });
conformanceSuite(disableLinger, { setup: sandboxFor(true, false) });
conformanceSuite(disableLinger, { setup: sandboxFor(false, false) });

describe('linger through a stub loginctl', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => {
    cleanup?.();
    cleanup = undefined;
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  function run(steps: Step<any, any, any>[], exec = faultyExec().exec): Promise<Outcome> {
    const tx = transaction('linger test', { journal: memoryJournal(), handleSignals: false, exec, retry: { undo: { retries: 1, minTimeout: 10 } } });
    for (const s of steps) tx.add(s);
    return tx.run();
  }

  it('enable and disable commit, calling loginctl with the user; the file tells the state', async () => {
    const s = lingerSandbox();
    cleanup = s.cleanup;
    const args = { user: 'alice', lingerDir: s.lingerDir, loginctl: s.loginctl };
    expect((await run([enableLinger(args)])).status).toBe('committed');
    expect(isLingering('alice', { lingerDir: s.lingerDir })).toBe(true);
    // Already on: no second call.
    expect((await run([enableLinger(args)])).status).toBe('committed');
    expect((await run([disableLinger(args)])).status).toBe('committed');
    expect(isLingering('alice', { lingerDir: s.lingerDir })).toBe(false);
    expect(fs.readFileSync(s.log, 'utf8').trim().split('\n')).toEqual(['enable-linger alice', 'disable-linger alice']);
  });

  it('a linger directory others could fill or empty is refused before loginctl runs: one others can write, or a missing one in a sticky directory', async () => {
    const s = lingerSandbox();
    cleanup = s.cleanup;
    const shared = join(s.root, 'shared');
    fs.mkdirSync(shared);
    fs.chmodSync(shared, 0o1777);
    fs.chmodSync(s.lingerDir, 0o777);
    for (const lingerDir of [s.lingerDir, join(shared, 'linger')]) {
      const outcome = await run([enableLinger({ user: 'alice', lingerDir, loginctl: s.loginctl })]);
      expect(outcome.status).toBe('rolled-back');
      expect(outcome.status === 'rolled-back' && outcome.cause.code).toBe('UNSAFE_DIRECTORY');
    }
    expect(fs.existsSync(s.log)).toBe(false);
  });

  it('the default loginctl is taken from PATH', async () => {
    const s = lingerSandbox();
    cleanup = s.cleanup;
    fs.renameSync(s.loginctl, join(s.root, 'bin-loginctl'));
    fs.mkdirSync(join(s.root, 'bin'));
    fs.renameSync(join(s.root, 'bin-loginctl'), join(s.root, 'bin', 'loginctl'));
    const exec = faultyExec().exec;
    const withPath: typeof exec = (spec) => exec({ ...spec, env: { PATH: `${join(s.root, 'bin')}:${process.env.PATH}`, LC_ALL: 'C' } });
    expect((await run([enableLinger({ user: 'alice', lingerDir: s.lingerDir })], withPath)).status).toBe('committed');
    expect(isLingering('alice', { lingerDir: s.lingerDir })).toBe(true);
  });

  it('a later failure undoes enable (and disable) back to the previous state', async () => {
    const s = lingerSandbox();
    cleanup = s.cleanup;
    fs.writeFileSync(join(s.lingerDir, 'bob'), '');
    const before = treeState(s.lingerDir);
    const outcome = await run([
      enableLinger({ user: 'alice', lingerDir: s.lingerDir, loginctl: s.loginctl }),
      disableLinger({ user: 'bob', lingerDir: s.lingerDir, loginctl: s.loginctl }),
      failingStep({ message: 'later' }),
    ]);
    expect(outcome.status).toBe('rolled-back');
    expect(treeState(s.lingerDir)).toEqual(before);
  });

  const bad = ['al ice', 'a;rm -rf', '-alice', '../etc', 'a/b', 'x'.repeat(33), '$(id)', ''];
  for (const kind of kinds) {
    it(`${kind.type}: bad user names are refused before any command runs`, async () => {
      for (const user of bad) {
        const { exec, calls } = faultyExec();
        const outcome = await run([kind({ user, loginctl: '/bin/false' })], exec);
        expect(outcome.status, user).toBe('refused');
        expect(outcome.status === 'refused' && outcome.cause.code).toBe('INVALID_INPUT');
        expect(calls).toEqual([]);
      }
      expect(() => isLingering('../x')).toThrow();
    });
  }

  for (const [kind, initiallyOn] of [[enableLinger, false], [disableLinger, true]] as const) {
    for (const fault of ['fail', 'hang'] as const) {
      it(`${kind.type}: loginctl that ${fault}s in do → rolled back, command, exit code and stderr in the report`, async () => {
        const s = lingerSandbox();
        cleanup = s.cleanup;
        if (initiallyOn) fs.writeFileSync(join(s.lingerDir, 'alice'), '');
        const before = treeState(s.lingerDir);
        const { exec } = faultyExec(() => fault);
        const outcome = await run([kind({ user: 'alice', lingerDir: s.lingerDir, loginctl: s.loginctl })], exec);
        expect(outcome.status).toBe('rolled-back');
        const ctx = outcome.steps[0]!.error!.context!;
        expect(outcome.steps[0]!.error!.code).toBe(fault === 'fail' ? 'COMMAND_FAILED' : 'COMMAND_TIMEOUT');
        expect(ctx.argv).toEqual(expect.arrayContaining([s.loginctl, initiallyOn ? 'disable-linger' : 'enable-linger', 'alice']));
        if (fault === 'fail') {
          expect(ctx.exitCode).toBe(3);
          expect(ctx.stderr).toContain('injected failure');
        }
        expect(treeState(s.lingerDir)).toEqual(before);
      });

      it(`${kind.type}: loginctl that ${fault}s in undo → rollback-failed, the undo's command in the report`, async () => {
        const s = lingerSandbox();
        cleanup = s.cleanup;
        if (initiallyOn) fs.writeFileSync(join(s.lingerDir, 'alice'), '');
        const { exec } = faultyExec((_spec, calls) => (calls.length >= 2 ? fault : undefined));
        const outcome = await run([kind({ user: 'alice', lingerDir: s.lingerDir, loginctl: s.loginctl }), failingStep({ message: 'later' })], exec);
        expect(outcome.status).toBe('rollback-failed');
        const undoError = outcome.steps[0]!.undo!.error!;
        expect(undoError.context!.argv).toEqual(expect.arrayContaining([s.loginctl, initiallyOn ? 'enable-linger' : 'disable-linger', 'alice']));
        if (fault === 'fail') expect(undoError.context!.exitCode).toBe(3);
        else expect(undoError.code).toBe('COMMAND_TIMEOUT');
        expect(outcome.status === 'rollback-failed' && outcome.remaining).toEqual([0]);
      });
    }
  }
});
