import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileJournal, readJournalFile, transaction } from '@unwind/core';
import { noopStep, treeState } from '@unwind/core/testing';
import { ANSI, fixtures, killedAt, newSandbox, onCleanup, onlyTransaction, requireBuilt, runCleanups, snapshotBytes, TEST_KINDS, unwind } from './helpers.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

describe('on journals left by killed transactions', () => {
  it('status shows the interrupted transaction: name, age, last step, what recovery would do, the stale lock', async () => {
    const k = await killedAt(6); // step 2 done, not verified
    const r = await unwind(['status', '--root', k.root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(ANSI);
    expect(r.stdout).toContain(`INTERRUPTED install demo  ${k.id}`);
    expect(r.stdout).toMatch(/started \d+ ms ago|started [\d.]+ s ago/);
    expect(r.stdout).toContain(`last step: 2. write ${join(k.dir, 'b.conf')} (done, not verified)`);
    expect(r.stdout).toContain('recovery would roll back 2 steps, newest first: 2, 1');
    expect(r.stdout).toMatch(/Lock stale: left by pid \d+ .*no longer running/);
    expect(r.stdout).toContain(`run \`unwind recover --root ${k.root}\``);

    const json = JSON.parse((await unwind(['status', '--root', k.root, '--json'])).stdout);
    expect(json.transactions).toHaveLength(1);
    expect(json.transactions[0]).toMatchObject({ id: k.id, name: 'install demo', status: 'interrupted', recovery: 'roll back', steps: 2 });
    expect(json.transactions[0].lastStep).toMatchObject({ index: 1, state: 'done, not verified' });
    expect(json.lock.alive).toBe(false);
  });

  it('a reused journal a power cut left under .reusable (retention remove): status lists it under its id, recover rolls it back', async () => {
    const s = newSandbox();
    const first = transaction('first', { journal: fileJournal({ root: s.root, retention: 'remove' }), handleSignals: false });
    first.add(noopStep({}));
    expect((await first.run()).status).toBe('committed');
    const marker = join(s.dir, 'marker.conf');
    const journal = fileJournal({ root: s.root, retention: 'remove' }).begin('install demo');
    journal.append({ kind: 'prepared', step: 0, type: 'test.writeMarker', package: '@unwind/core/testing', description: `write ${marker}`, args: { path: marker, content: 'new\n' }, before: { existed: false } }, true);
    fs.writeFileSync(marker, 'new\n');
    journal.close(false);
    // The power cut: the takeover's rename of .reusable to the new id, never synced, is lost.
    fs.renameSync(join(s.root, journal.id), join(s.root, '.reusable'));
    const status = await unwind(['status', '--root', s.root]);
    expect(status.stdout).toContain(`INTERRUPTED install demo  ${journal.id}`);
    const r = await unwind(['recover', ...TEST_KINDS, '--root', s.root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Recovering install demo ${journal.id}`);
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.existsSync(join(s.root, '.reusable'))).toBe(false);
  });

  it('apply --dry-run names a journal a power cut left under .reusable as unfinished, and leaves it where it is', async () => {
    const s = newSandbox();
    const first = transaction('first', { journal: fileJournal({ root: s.root, retention: 'remove' }), handleSignals: false });
    first.add(noopStep({}));
    expect((await first.run()).status).toBe('committed');
    const journal = fileJournal({ root: s.root, retention: 'remove' }).begin('install demo');
    journal.append({ kind: 'prepared', step: 0, type: 'test.writeMarker', package: '@unwind/core/testing', description: 'write a marker', args: { path: join(s.dir, 'marker.conf'), content: 'new\n' }, before: { existed: false } }, true);
    journal.close(false);
    fs.renameSync(join(s.root, journal.id), join(s.root, '.reusable'));
    const file = join(s.base, 'next.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'next', steps: [{ kind: 'files.writeFile', args: { path: join(s.dir, 'next.conf'), content: 'next\n' } }] }));
    const rootBefore = treeState(s.root);
    const dry = await unwind(['apply', file, '--root', s.root, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(5);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, cause: { code: 'UNFINISHED_TRANSACTION', transactionIds: [journal.id] } });
    // A real run's listing would first rename .reusable to the journal's id; a dry run changes nothing.
    expect(treeState(s.root)).toEqual(rootBefore);
    expect(fs.existsSync(join(s.root, '.reusable'))).toBe(true);
  });

  it('log shows the timeline; --json gives the records', async () => {
    const k = await killedAt(6);
    const r = await unwind(['log', '--root', k.root, k.id.slice(-6)]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('Transaction  install demo');
    expect(r.stdout).toContain('Outcome      unfinished; recovery would roll back 2 steps, newest first: 2, 1');
    const timeline = lines.filter((l) => /^\s+\+/.test(l)).map((l) => l.replace(/^\s+\+\S+ \S+\s+/, ''));
    expect(timeline).toEqual([
      'begin "install demo" (journal format 1)',
      `step 1 prepared: write ${join(k.dir, 'a.conf')} [test.writeMarker]`,
      expect.stringMatching(/^step 1 done in \d+ ms \(1 attempt\)$/),
      expect.stringMatching(/^step 1 verified/),
      `step 2 prepared: write ${join(k.dir, 'b.conf')} [test.writeMarker]`,
      expect.stringMatching(/^step 2 done in \d+ ms \(1 attempt\)$/),
    ]);
    const json = JSON.parse((await unwind(['log', '--root', k.root, k.id, '--json'])).stdout);
    expect(json.records.map((x: { kind: string }) => x.kind)).toEqual(['begin', 'prepared', 'done', 'verified', 'prepared', 'done']);
    expect(json).toMatchObject({ id: k.id, name: 'install demo', recovery: 'roll back', commitPoint: false });
  });

  it('recover undoes every started step, newest first, restores the before-state, and says so; twice is safe', async () => {
    const k = await killedAt(6);
    expect(treeState(k.dir)).not.toEqual(k.before);
    const r = await unwind(['recover', ...TEST_KINDS, '--root', k.root]);
    expect(r.code, r.stderr).toBe(0);
    expect(treeState(k.dir)).toEqual(k.before);
    const undone = r.stdout.split('\n').filter((l) => l.includes('undone  '));
    expect(undone).toEqual([
      expect.stringMatching(new RegExp(`^  undone +step 2: write ${join(k.dir, 'b.conf')} \\(\\d+ ms\\)$`)),
      expect.stringMatching(new RegExp(`^  undone +step 1: write ${join(k.dir, 'a.conf')} \\(\\d+ ms\\)$`)),
    ]);
    expect(r.stdout).toContain('Rolled back: 2 steps undone, newest first.');
    expect(r.stderr).toMatch(/took over the stale lock .* of dead process \d+/);

    const again = await unwind(['recover', ...TEST_KINDS, '--root', k.root]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to recover');
    expect(treeState(k.dir)).toEqual(k.before);

    const status = await unwind(['status', '--root', k.root]);
    expect(status.stdout).toContain('Nothing unfinished.');
    expect(status.stdout).toContain('1 finished transaction not shown (--all shows them)');
    expect((await unwind(['status', '--root', k.root, '--all'])).stdout).toContain(`ROLLED BACK install demo  ${k.id}`);

    const log = await unwind(['log', '--root', k.root, k.id]);
    expect(log.stdout).toContain('Outcome      rolled back');
    expect(log.stdout).toMatch(/rollback by recovery: recovered an unfinished transaction\n.*step 2 undone in \d+ ms \(1 attempt\): write .*b\.conf\n.*step 1 undone in \d+ ms \(1 attempt\): write .*a\.conf\n.*end: rolled-back/);
  });

  it("recover registers the installed adapters' kinds: a journal of @unwind/files steps is rolled back", async () => {
    const k = await killedAt(6, { files: true });
    expect(treeState(k.dir)).not.toEqual(k.before);
    const r = await unwind(['recover', ...TEST_KINDS, '--root', k.root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/undone +step 2: .*b\.conf/);
    expect(r.stdout).toContain('Rolled back: 2 steps undone');
    expect(treeState(k.dir)).toEqual(k.before);
  });

  it('recover TXID --json reports what it did', async () => {
    const k = await killedAt(9); // step 3 done
    const r = await unwind(['recover', ...TEST_KINDS, '--root', k.root, k.id, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json).toMatchObject({ ok: true, exitCode: 0 });
    expect(json.transactions).toEqual([expect.objectContaining({ id: k.id, result: 'rolled-back', undone: [2, 1, 0] })]);
    expect(json.kinds.sources).toContainEqual({ from: TEST_KINDS[1], count: expect.any(Number) });
    expect(json.kinds.sources.map((x: { from: string }) => x.from)).not.toContain('@unwind/core/testing');
    expect(treeState(k.dir)).toEqual(k.before);
  });

  it('past the commit point, recover finishes the transaction and keeps its changes', async () => {
    // Only a transaction with a commit action has an instant past its commit point and before its
    // end: without one, both records go out in one write.
    const done = await killedAt(undefined, { commitAction: true });
    const after = treeState(done.dir);
    const k = await killedAt(14, { commitAction: true }); // the commit point is record 14
    expect(readJournalFile(k.journal).records.map((r) => r.kind).slice(-2)).toEqual(['verified', 'commit-point']);
    const status = await unwind(['status', '--root', k.root]);
    expect(status.stdout).toContain('recovery would finish the commit actions');
    const r = await unwind(['recover', ...TEST_KINDS, '--root', k.root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Committed: the commit actions are finished.');
    expect(treeState(k.dir)).toEqual(after);
  });

  it('a rollback that still fails: status says stuck, recover exits 2 and says how to resume', async () => {
    const k = await killedAt(undefined, { failAtEnd: true, failUndoOf: 0 });
    const status = await unwind(['status', '--root', k.root]);
    expect(status.stdout).toContain(`STUCK install demo  ${k.id}`);
    expect(status.stdout).toContain(`rollback failed: undo of step 1 (write ${join(k.dir, 'a.conf')}) failed: injected failure in undo of ${join(k.dir, 'a.conf')}`);
    const r = await unwind(['recover', ...TEST_KINDS, '--root', k.root]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toContain(`undo failed    step 1: write ${join(k.dir, 'a.conf')}: injected failure in undo`);
    expect(r.stdout).toContain(`Fix the cause, then run: unwind recover --root ${k.root} ${k.id}`);
    const json = await unwind(['recover', ...TEST_KINDS, '--root', k.root, '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, exitCode: 2, transactions: [{ result: 'rollback-failed' }] });
  });

  it('a lock held by a live process: status names the holder, recover exits 3 and touches nothing', async () => {
    const k = await killedAt(6);
    fs.rmSync(join(k.root, 'unwind.lock'));
    const { spawn } = await import('node:child_process');
    const holder = spawn(process.execPath, ['--import', 'tsx', join(fixtures, 'hold-lock.ts'), k.root], { cwd: join(import.meta.dirname, '../../..'), stdio: ['ignore', 'pipe', 'inherit'] });
    onCleanup(() => holder.kill('SIGKILL'));
    await new Promise<void>((ready) => holder.stdout!.once('data', () => ready()));
    const before = snapshotBytes(k.base);
    const status = await unwind(['status', '--root', k.root]);
    expect(status.stdout).toContain(`Lock held by pid ${holder.pid} on`);
    expect(status.stdout).toContain('(install demo)');
    const r = await unwind(['recover', ...TEST_KINDS, '--root', k.root]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^unwind: error: a running process holds the lock of ${k.root}: pid ${holder.pid} on `));
    expect(r.stdout).toBe('');
    expect(snapshotBytes(k.base)).toEqual(before);
  });

  it('a transaction still running: status says so, recover refuses (3); once it is killed, recover rolls it back', async () => {
    const s = newSandbox();
    const before = treeState(s.dir);
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', join(fixtures, 'running-child.ts'), JSON.stringify({ root: s.root, dir: s.dir })], {
      cwd: join(import.meta.dirname, '../../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((done) => child.once('close', done));
    onCleanup(() => child.kill('SIGKILL'));
    await new Promise<void>((ready) => child.stdout!.once('data', () => ready()));
    const id = onlyTransaction(s.root);

    const status = await unwind(['status', '--root', s.root]);
    expect(status.stdout).toContain(`RUNNING install demo  ${id}`);
    expect(status.stdout).toContain(`started`);
    expect(status.stdout).toContain('last step: 3. wait for ever (started, did not finish)');
    expect(status.stdout).toContain('— but it is still running');
    expect(status.stdout).toContain(`Lock held by pid ${child.pid} on`);
    const refused = await unwind(['recover', ...TEST_KINDS, '--root', s.root, '--kinds', join(fixtures, 'custom-kinds.mjs')]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`pid ${child.pid}`);

    child.kill('SIGKILL');
    await exited;
    expect((await unwind(['status', '--root', s.root])).stdout).toContain(`INTERRUPTED install demo  ${id}`);
    const r = await unwind(['recover', ...TEST_KINDS, '--root', s.root, '--kinds', join(fixtures, 'custom-kinds.mjs')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.includes('undone  ')).map((l) => l.replace(/ \(\d+ ms\)$/, ''))).toEqual([
      '  undone         step 3: wait for ever',
      `  undone         step 2: write ${join(s.dir, 'b.conf')}`,
      `  undone         step 1: write ${join(s.dir, 'a.conf')}`,
    ]);
    expect(treeState(s.dir)).toEqual(before);
  });

  it('a corrupted journal: a clear error naming file and line, exit 4, nothing changed', async () => {
    const k = await killedAt(6);
    const lines = fs.readFileSync(k.journal, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"attempts":1', '"attempts":7'); // line 3, checksum no longer matches
    fs.writeFileSync(k.journal, lines.join('\n'));
    const journalBefore = snapshotBytes(join(k.root, k.id));
    const treeBefore = treeState(k.dir);

    const r = await unwind(['recover', ...TEST_KINDS, '--root', k.root]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`unwind: error: cannot recover ${k.id}; nothing was changed:`);
    expect(r.stderr).toContain(`journal ${k.journal} line 3: checksum mismatch or malformed record; refusing to act on it`);
    expect(snapshotBytes(join(k.root, k.id))).toEqual(journalBefore);
    expect(treeState(k.dir)).toEqual(treeBefore);

    const one = await unwind(['recover', ...TEST_KINDS, '--root', k.root, k.id]);
    expect(one.code).toBe(4);
    expect(snapshotBytes(join(k.root, k.id))).toEqual(journalBefore);

    const status = await unwind(['status', '--root', k.root]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`UNREADABLE ${k.id}`);
    expect(status.stdout).toContain('line 3: checksum mismatch');

    const log = await unwind(['log', '--root', k.root, k.id]);
    expect(log.code).toBe(4);
    expect(log.stderr).toContain(`journal ${k.journal} line 3`);
  });

  it('a transaction directory others can write: refused before its journal is opened, exit 4, nothing changed', async () => {
    const k = await killedAt(6);
    fs.chmodSync(join(k.root, k.id), 0o777);
    const journalBefore = snapshotBytes(join(k.root, k.id));
    const treeBefore = treeState(k.dir);
    const r = await unwind(['recover', ...TEST_KINDS, '--root', k.root]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`transaction directory ${join(k.root, k.id)} is writable by group or others (mode 0777)`);
    expect(r.stdout).not.toContain('Recovering');
    expect(snapshotBytes(join(k.root, k.id))).toEqual(journalBefore);
    expect(treeState(k.dir)).toEqual(treeBefore);
  });

  it('an unreadable journal root: a clear error, exit 4, for every command', async () => {
    const k = await killedAt(6);
    const asNobody = process.getuid?.() === 0;
    if (asNobody) fs.chmodSync(k.base, 0o755); // only the journal root (0700, owned by root) is closed to uid 65534
    else fs.chmodSync(k.root, 0o000);
    onCleanup(() => fs.chmodSync(k.root, 0o700), true);
    const before = snapshotBytes(k.root.replace(/j$/, 'sb'));
    for (const args of [['status'], ['recover'], ['log', k.id]]) {
      const r = await unwind([...args, '--root', k.root], { asNobody });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(4);
      expect(r.stderr, args[0]).toMatch(new RegExp(`^unwind: error: cannot (read|use) journal root ${k.root}: permission denied \\(EACCES\\)`));
      expect(r.stdout, args[0]).toBe('');
    }
    expect(snapshotBytes(k.dir)).toEqual(before);
  });

  it('a journal naming a step type nobody registered: exit 4 naming it; --kinds MODULE registers it', async () => {
    const k = await killedAt(6, { custom: true });
    const journalBefore = snapshotBytes(join(k.root, k.id));
    const r = await unwind(['recover', ...TEST_KINDS, '--root', k.root]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('step type "myapp.marker" is unknown here');
    expect(r.stderr).toContain('register the step kinds of myapp');
    expect(r.stderr).toContain('--kinds MODULE');
    expect(snapshotBytes(join(k.root, k.id))).toEqual(journalBefore);

    const bad = await unwind(['recover', ...TEST_KINDS, '--root', k.root, '--kinds', join(fixtures, 'no-kinds.mjs')]);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(/module .*no-kinds\.mjs exports no step kinds/);
    const missing = await unwind(['recover', ...TEST_KINDS, '--root', k.root, '--kinds', './nope/missing.mjs']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/cannot load module \.\/nope\/missing\.mjs/);

    const ok = await unwind(['recover', ...TEST_KINDS, '--root', k.root, '--kinds', './packages/cli/test/fixtures/custom-kinds.mjs']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Rolled back: 2 steps undone');
    expect(treeState(k.dir)).toEqual(k.before);
  });
});

