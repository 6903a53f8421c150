// The write-ahead rule on a full disk, and a runner that always answers: a
// journal record counts only when every byte is on disk; only an unfinished
// last line is a torn tail; timeouts hold against escaped descendants; a
// read-only journal root gives an outcome, never an exception.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import * as t from 'io-ts';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  defineStep, encodeLine, exitCodeOf, exitCodeOfRecovery, fileJournal, readJournalFile, recover, runCommand, transaction,
  type JournalRecord, type Outcome,
} from '@unwind/core';
import { cannotMount, goneWithin, mountTmpfs, requireHere, runTypeScript, temporaryDirectory, testKinds, treeState, writeMarker } from '@unwind/core/testing';

const repoRoot = resolve(import.meta.dirname, '..');
const inNamespace = process.env.UNWIND_IN_NAMESPACE === '1';
const why = inNamespace ? cannotMount() : 'not inside a private mount namespace (run through scripts/test.mjs, or unshare --mount --propagation private with UNWIND_IN_NAMESPACE=1): nothing is mounted on the host';
if (why) console.warn(`skipping the mount cases of the write-ahead tests: ${why}`);

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function sandbox(): { base: string; dir: string; journalFs: string } {
  const base = temporaryDirectory('unwind-write-ahead-');
  cleanups.push(base.remove);
  const dir = join(base.path, 'sandbox');
  fs.mkdirSync(dir);
  fs.writeFileSync(join(dir, 'keep.conf'), 'untouched\n');
  const journalFs = join(base.path, 'journal-fs');
  fs.mkdirSync(journalFs);
  return { base: base.path, dir, journalFs };
}

function journalPathOf(root: string): string {
  const [id] = fs.readdirSync(root).filter((name) => /^\d{8}T/.test(name));
  return join(root, id!, 'journal.jsonl');
}

describe('a journal record that cannot be written whole: the step never starts', () => {
  beforeAll(() => requireHere(why, 'a private mount namespace that can mount a tmpfs'));
  async function fillDuringRun(options: { killInUndo: boolean }) {
    const s = sandbox();
    cleanups.push(mountTmpfs(s.journalFs, '256k'));
    const before = treeState(s.dir);
    const root = join(s.journalFs, 'journal');
    const outcomeFile = join(s.base, 'outcome.json');
    const killToken = join(s.base, 'kill-token');
    if (options.killInUndo) fs.writeFileSync(killToken, '');
    let pid: number | undefined;
    const ended = runTypeScript(
      join(import.meta.dirname, 'fixtures', 'full-disk-child.ts'),
      [JSON.stringify({ root, dir: s.dir, filler: join(s.journalFs, 'filler'), outcomeFile, bigBytes: 16 * 1024, ...(options.killInUndo ? { killToken } : {}) })],
      { cwd: repoRoot, killAfterMs: 60_000, onSpawn: (p) => (pid = p) },
    );
    cleanups.push(() => {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    if (!options.killInUndo) {
      const deadline = Date.now() + 30_000;
      while (!fs.existsSync(outcomeFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      process.kill(pid!, 'SIGKILL');
    }
    const child = await ended;
    return { s, before, root, outcomeFile, child };
  }

  it('a short write of a prepared record on a full disk: rolled back, and after SIGKILL and recover the machine is as before', async () => {
    const { s, before, root, outcomeFile, child } = await fillDuringRun({ killInUndo: false });
    expect(child.signal).toBe('SIGKILL');
    const { outcome, exitCode } = JSON.parse(fs.readFileSync(outcomeFile, 'utf8')) as { outcome: Outcome; exitCode: number };
    // The second step's record did not fit: it never started, and the outcome says why.
    expect(outcome.status).toBe('rolled-back');
    expect(exitCode).toBe(1);
    expect(outcome.steps[1]).toMatchObject({ status: 'failed', error: { code: 'JOURNAL_WRITE', message: expect.stringMatching(/ENOSPC/) } });
    if (outcome.status === 'rolled-back') expect(outcome.cause.code).toBe('JOURNAL_WRITE');
    expect(fs.existsSync(join(s.dir, 'b.conf'))).toBe(false);
    // Nothing of the half record is left: the file ends at its last whole record.
    const contents = readJournalFile(journalPathOf(root));
    expect(contents.tornTail).toBe(false);
    expect(contents.records.filter((r) => r.kind === 'prepared').map((r) => (r as { step: number }).step)).toEqual([0]);

    fs.rmSync(join(s.journalFs, 'filler'));
    const report = await recover({ root, kinds: testKinds });
    expect(report.refused).toBeUndefined();
    expect(exitCodeOfRecovery(report)).toBe(0);
    expect(treeState(s.dir)).toEqual(before);
  });

  it('the same, SIGKILLed half-way through the rollback: recover undoes the first step; the second was never made', async () => {
    const { s, before, root, child } = await fillDuringRun({ killInUndo: true });
    expect(child.signal).toBe('SIGKILL');
    expect(fs.readFileSync(join(s.dir, 'a.conf'), 'utf8')).toBe('half-undone');
    expect(fs.existsSync(join(s.dir, 'b.conf'))).toBe(false);
    expect(readJournalFile(journalPathOf(root)).records.some((r) => r.kind === 'prepared' && r.step === 1)).toBe(false);

    // Still full: recovery answers (it may not even get its lock) and never throws.
    const onFullDisk = await recover({ root, kinds: testKinds });
    expect([0, 4]).toContain(exitCodeOfRecovery(onFullDisk));
    fs.rmSync(join(s.journalFs, 'filler'));
    const report = await recover({ root, kinds: testKinds });
    expect(exitCodeOfRecovery(report)).toBe(0);
    expect(treeState(s.dir)).toEqual(before);
  });
});

describe('a corrupt last record that ends with its newline is corruption, not a torn tail', () => {
  it('recover refuses the journal and touches nothing', async () => {
    const s = sandbox();
    const root = join(s.base, 'journal');
    const tx = transaction('left behind', { journal: fileJournal({ root, retention: 'keep' }), handleSignals: false });
    tx.add(writeMarker({ path: join(s.dir, 'a.conf'), content: 'new a\n' }));
    // Leave the transaction unfinished the way a crash would: stop at the first step's `verified`.
    await tx.run();
    const path = journalPathOf(root);
    const records = readJournalFile(path).records;
    const kept = records.slice(0, records.findIndex((r) => r.kind === 'verified') + 1);
    // The last record, complete with its newline, but one byte changed: its checksum no longer holds.
    const last = encodeLine(kept.at(-1)!).replace('"verified"', '"verifiee"');
    fs.writeFileSync(path, kept.slice(0, -1).map((r: JournalRecord) => encodeLine(r)).join('') + last);
    fs.writeFileSync(join(s.dir, 'a.conf'), 'new a\n');
    const after = treeState(s.dir);
    const journalBefore = fs.readFileSync(path);

    const report = await recover({ root, kinds: testKinds });
    expect(report.transactions).toHaveLength(1);
    expect(report.transactions[0]).toMatchObject({ result: 'error', error: { code: 'JOURNAL_CORRUPT', message: expect.stringMatching(/line \d+: checksum mismatch/) } });
    expect(exitCodeOfRecovery(report)).toBe(4);
    expect(treeState(s.dir)).toEqual(after);
    expect(fs.readFileSync(path)).toEqual(journalBefore);
  });
});

describe('a command timeout holds against a descendant that escaped with setsid and holds the pipes, and kills it', () => {
  const grandchildren: string[] = [];
  afterEach(() => {
    for (const pidFile of grandchildren.splice(0)) {
      try {
        process.kill(Number(fs.readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
      } catch {
        // never started, or already gone
      }
    }
  });

  function escapingArgv(pidFile: string, leader: 'sleep' | 'exit'): string[] {
    // The grandchild starts its own session (out of the command's process group), writes its pid, and keeps stdout and stderr open.
    const escape = `setsid sh -c 'echo $$ > "$1"; exec sleep 120' sh "${pidFile}" &`;
    return ['sh', '-c', leader === 'sleep' ? `${escape} echo started; exec sleep 120` : `${escape} echo started`];
  }

  async function waitForPid(pidFile: string): Promise<number> {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const text = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : '';
      if (text) return Number(text);
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the escaped grandchild never wrote its pid');
  }

  it('a step whose command times out at 500 ms settles within bounds, the transaction rolls back, and the grandchild is killed', async () => {
    const s = sandbox();
    const pidFile = join(s.base, 'grandchild.pid');
    grandchildren.push(pidFile);
    const hang = defineStep({
      type: 'security.escapingCommand',
      args: t.type({ pidFile: t.string }),
      before: t.null,
      describe: () => 'run a command that leaves a setsid grandchild holding its output',
      prepare: async () => null,
      do: async (a, _before, ctx) => {
        await ctx.exec({ argv: escapingArgv(a.pidFile, 'sleep'), timeoutMs: 500, killGraceMs: 500, signal: ctx.signal });
      },
      undo: async () => {},
    });
    const before = treeState(s.dir);
    const tx = transaction('escaped grandchild', { journal: fileJournal({ root: join(s.base, 'journal') }), handleSignals: false });
    tx.add(writeMarker({ path: join(s.dir, 'a.conf'), content: 'A' }));
    tx.add(hang({ pidFile }));
    const started = Date.now();
    const outcome = await tx.run();
    const elapsed = Date.now() - started;
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps[1]?.error).toMatchObject({ code: 'COMMAND_TIMEOUT' });
    expect(elapsed).toBeLessThan(3000);
    expect(treeState(s.dir)).toEqual(before);
    // The timeout did not wait for the grandchild, and did not leave it running either: it is found
    // through its parent, out of the group, and killed with the command.
    const grandchild = await waitForPid(pidFile);
    expect(await goneWithin(grandchild, 5000)).toBe(true);
  });

  it('a command that exits at once but leaves the grandchild settles on its exit, with its output', async () => {
    const s = sandbox();
    const pidFile = join(s.base, 'grandchild.pid');
    grandchildren.push(pidFile);
    const started = Date.now();
    const result = await runCommand({ argv: escapingArgv(pidFile, 'exit'), timeoutMs: 60_000 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'started\n' });
    const grandchild = await waitForPid(pidFile);
    expect(() => process.kill(grandchild, 0)).not.toThrow();
  });
});

describe('a read-only journal filesystem: run() and recover() answer with an outcome, never throw', () => {
  beforeAll(() => requireHere(why, 'a private mount namespace that can mount a tmpfs'));
  function readOnly(path: string): void {
    const r = spawnSync('mount', ['-o', 'remount,ro', path], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`remount read-only failed: ${r.stderr}`);
  }

  it('read-only before the run: refused, nothing touched', async () => {
    const s = sandbox();
    cleanups.push(mountTmpfs(s.journalFs, '1m'));
    const root = join(s.journalFs, 'journal');
    fs.mkdirSync(root, { mode: 0o700 });
    readOnly(s.journalFs);
    const before = treeState(s.dir);
    const tx = transaction('read-only', { journal: fileJournal({ root }), handleSignals: false });
    tx.add(writeMarker({ path: join(s.dir, 'a.conf'), content: 'A' }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('refused');
    expect(exitCodeOf(outcome)).toBe(4);
    if (outcome.status === 'refused') expect(outcome.cause.message).toMatch(/EROFS|read-only/);
    expect(treeState(s.dir)).toEqual(before);

    const report = await recover({ root, kinds: testKinds });
    expect(report.refused?.message).toMatch(/EROFS|read-only/);
    expect(exitCodeOfRecovery(report)).toBe(4);
  });

  it('a lock that cannot be released (the machine made its file busy during the run): the outcome says so, run() does not throw', async () => {
    const s = sandbox();
    cleanups.push(mountTmpfs(s.journalFs, '1m'));
    const root = join(s.journalFs, 'journal');
    const lockPath = join(root, 'unwind.lock');
    // A read-only remount is refused while the journal is open for writing, so the lock file is
    // made a mount point instead (same bytes, bind-mounted over it): removing it fails with EBUSY.
    const pinLock = defineStep({
      type: 'security.pinLock',
      args: t.type({ lock: t.string, copy: t.string }),
      before: t.null,
      describe: (a) => `make ${a.lock} a mount point`,
      prepare: async () => null,
      do: async (a) => {
        fs.copyFileSync(a.lock, a.copy);
        const r = spawnSync('mount', ['--bind', a.copy, a.lock], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`bind mount failed: ${r.stderr}`);
      },
      undo: async () => {},
    });
    cleanups.push(() => spawnSync('umount', ['-l', lockPath]));
    const tx = transaction('busy lock', { journal: fileJournal({ root }), handleSignals: false });
    tx.add(writeMarker({ path: join(s.dir, 'a.conf'), content: 'A' }));
    tx.add(pinLock({ lock: lockPath, copy: join(s.base, 'lock-copy') }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    expect(exitCodeOf(outcome)).toBe(0);
    expect(outcome.cleanupErrors.map((e) => e.message).join('\n')).toMatch(/EBUSY/);
    expect(fs.readFileSync(join(s.dir, 'a.conf'), 'utf8')).toBe('A');
  });
});
