import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recover, runCommand, withPrograms } from '@unwind/core';
import { temporaryDirectory, treeState } from '@unwind/core/testing';
import { kinds as lingerKinds } from '@unwind/linger';
import { craftJournal, machineHashes } from './accounts-sandbox.js';

// Crafted journals (valid checksums) for the linger kinds. The undo of a
// linger step decides whether to run loginctl by looking at the user's file
// in the journaled linger directory: recovery refuses a journal whose linger
// directory someone else controls (a symlink, a directory others can write,
// or one below such a directory), a user name that is not a plain account
// name, and a timeout that would make it wait for ever — before anything
// runs. The configured loginctl leaves a trace; every case checks it never
// ran and that the sandbox (journal root aside) is unchanged.

let machine: Record<string, string>;
beforeAll(() => {
  machine = machineHashes();
});
afterAll(() => {
  expect(machineHashes()).toEqual(machine);
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** A sandbox: a journal root, a real linger directory where "svc" lingers, and a loginctl stub that records its calls and acts on that directory. */
function sandbox() {
  const temporary = temporaryDirectory('unwind-linger-journal-');
  cleanups.push(temporary.remove);
  const dir = temporary.path;
  const journal = join(dir, 'journal');
  const lingerDir = join(dir, 'linger');
  fs.mkdirSync(journal, { mode: 0o700 });
  fs.mkdirSync(lingerDir, { mode: 0o755 });
  fs.writeFileSync(join(lingerDir, 'svc'), '');
  const trace = join(dir, 'loginctl.ran');
  const loginctl = join(dir, 'loginctl');
  fs.writeFileSync(loginctl, `#!/bin/sh\necho "$@" >> ${trace}\ncase "$1" in disable-linger) rm -f ${lingerDir}/"$2" ;; enable-linger) : > ${lingerDir}/"$2" ;; esac\n`, { mode: 0o755 });
  return { dir, journal, lingerDir, trace, exec: withPrograms(runCommand, { loginctl }) };
}

type Sandbox = ReturnType<typeof sandbox>;

/** Recovers one crafted linger step; the sandbox outside the journal root must be exactly as it was, and loginctl must not have run. */
async function refused(s: Sandbox, step: { type: 'linger.enable' | 'linger.disable'; args: Record<string, unknown>; before: unknown; after?: unknown }) {
  const outside = (relative: string) => relative === 'journal' || relative.startsWith('journal/');
  const before = treeState(s.dir, { ignore: outside });
  craftJournal(s.journal, [step]);
  const report = await recover({ root: s.journal, kinds: lingerKinds, exec: s.exec });
  const t = report.transactions[0]!;
  expect(t.result, t.error?.message).toBe('error');
  expect(t.error?.code, t.error?.message).toBe('UNTRUSTED_JOURNAL');
  expect(fs.existsSync(s.trace), 'loginctl ran').toBe(false);
  expect(treeState(s.dir, { ignore: outside })).toEqual(before);
  return t;
}

describe('the journal is input: linger kinds', () => {
  it('a control case: a well-formed journal is recovered through the configured loginctl', async () => {
    const s = sandbox();
    craftJournal(s.journal, [{ type: 'linger.enable', args: { user: 'svc', lingerDir: s.lingerDir }, before: { lingering: false }, after: null }]);
    const report = await recover({ root: s.journal, kinds: lingerKinds, exec: s.exec });
    expect(report.transactions[0]!.result, report.transactions[0]!.error?.message).toBe('rolled-back');
    expect(fs.readFileSync(s.trace, 'utf8')).toBe('disable-linger svc\n');
  });

  it('a linger directory that is a symlink (to an empty directory the attacker owns): refused, linger untouched', async () => {
    const s = sandbox();
    const planted = join(s.dir, 'planted');
    fs.mkdirSync(planted, { mode: 0o777 });
    fs.chmodSync(planted, 0o777);
    const link = join(s.dir, 'linger-link');
    fs.symlinkSync(planted, link);
    // "svc did not linger before, and the step turned it on": with the planted directory empty,
    // an undo reading it would run enable-linger; reading the real one, nothing. Either way: refused.
    const t = await refused(s, { type: 'linger.disable', args: { user: 'svc', lingerDir: link }, before: { lingering: true }, after: null });
    expect(t.error?.message).toMatch(/symlink/);
    expect(fs.existsSync(join(s.lingerDir, 'svc'))).toBe(true);
  });

  it('a linger directory writable by others, or below one: refused', async () => {
    const s = sandbox();
    const open = join(s.dir, 'open');
    fs.mkdirSync(join(open, 'linger'), { recursive: true });
    fs.chmodSync(open, 0o777);
    for (const lingerDir of [open, join(open, 'linger')]) {
      const t = await refused(s, { type: 'linger.disable', args: { user: 'svc', lingerDir }, before: { lingering: true }, after: null });
      expect(t.error?.message).toMatch(/writable by group or others/);
    }
  });

  it('a linger directory owned by another user: refused', async () => {
    const s = sandbox();
    const theirs = join(s.dir, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o755 });
    fs.chownSync(theirs, 4321, 4321);
    const t = await refused(s, { type: 'linger.enable', args: { user: 'svc', lingerDir: theirs }, before: { lingering: false }, after: null });
    expect(t.error?.message).toMatch(/owned by uid 4321/);
  });

  it('a linger directory that does not exist where another user could make it (a sticky or shared directory): refused', async () => {
    const s = sandbox();
    const shared = join(s.dir, 'shared');
    fs.mkdirSync(shared);
    fs.chmodSync(shared, 0o1777);
    // Missing, nobody lingers; but anyone may create shared/linger, filled or empty, before the undo reads it.
    const t = await refused(s, { type: 'linger.disable', args: { user: 'svc', lingerDir: join(shared, 'linger', 'deeper') }, before: { lingering: true }, after: null });
    expect(t.error?.message).toContain(`does not exist, and another user could make it: its nearest existing directory ${shared} is writable by group or others (mode 1777)`);
  });

  it('a linger directory that does not exist below directories only root can change: accepted (nobody lingers)', async () => {
    const s = sandbox();
    craftJournal(s.journal, [{ type: 'linger.enable', args: { user: 'svc', lingerDir: join(s.dir, 'never', 'linger') }, before: { lingering: false }, after: null }]);
    const report = await recover({ root: s.journal, kinds: lingerKinds, exec: s.exec });
    expect(report.transactions[0]!.result, report.transactions[0]!.error?.message).toBe('rolled-back');
    expect(fs.existsSync(s.trace)).toBe(false);
  });

  it('user names that are not plain account names, and paths that are not normalised: refused', async () => {
    const s = sandbox();
    for (const args of [
      { user: '../svc', lingerDir: s.lingerDir },
      { user: 'svc/../../x', lingerDir: s.lingerDir },
      { user: '-svc', lingerDir: s.lingerDir },
      { user: '0', lingerDir: s.lingerDir },
      { user: 'svc', lingerDir: `${s.dir}/x/../linger` },
      { user: 'svc', lingerDir: 'linger' },
    ]) {
      await refused(s, { type: 'linger.enable', args, before: { lingering: false }, after: null });
    }
    expect(fs.existsSync(join(s.lingerDir, 'svc'))).toBe(true);
  });

  it('a timeout that would make recovery wait for ever: refused', async () => {
    const s = sandbox();
    for (const commandTimeoutMs of [1e300, 0, -1, 1.5]) {
      await refused(s, { type: 'linger.enable', args: { user: 'svc', lingerDir: s.lingerDir, commandTimeoutMs }, before: { lingering: false }, after: null });
    }
  });
});
