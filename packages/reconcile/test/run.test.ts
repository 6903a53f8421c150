import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, fileJournal, memoryJournal, type Journal } from '@unwind/core';
import { failingStep, stagedRemove, treeState, writeMarker } from '@unwind/core/testing';
import { readStatusFile, reconcile, type ReconcileOptions } from '../src/index.js';

/**
 * The model: each item is a file `<dir>/<name>` ("the unit") plus `<dir>/<name>.run`
 * ("it is running"). Ours carry `#managed` as their first line.
 */
interface Desired {
  name: string;
  body: string;
  /** Inject: fail this step (1-based) of the item's transaction. */
  failAt?: number;
}
interface Actual {
  name: string;
  content: string;
}

const MARK = '#managed\n';
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function sandbox(files: Record<string, string> = {}): { dir: string; status: string } {
  const base = fs.mkdtempSync(join(tmpdir(), 'unwind-reconcile-'));
  dirs.push(base);
  const dir = join(base, 'items');
  fs.mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(join(dir, name), content);
  return { dir, status: join(base, 'status.json') };
}

function options(dir: string, desired: Desired[], extra: Partial<ReconcileOptions<Desired, Actual>> = {}): ReconcileOptions<Desired, Actual> {
  return {
    name: 'test',
    desired,
    journal: memoryJournal(),
    handleSignals: false,
    statusFile: false,
    key: (d) => d.name,
    actual: async () => fs.readdirSync(dir).filter((n) => !n.includes('.')).map((name) => ({ name, content: fs.readFileSync(join(dir, name), 'utf8') })),
    ownership: (a) => a.content.startsWith(MARK),
    protect: (k) => (k === 'root' ? 'root' : ['keep'].includes(k)),
    differs: (d, a) => a.content !== MARK + d.body,
    check: async (d) => (fs.existsSync(join(dir, `${d.name}.run`)) ? undefined : 'not running'),
    validate: (d) => (d.body.includes('\0') ? ['body contains NUL'] : []),
    plan: (c) => [
      writeMarker({ path: join(dir, c.key), content: MARK + c.desired.body, ...(c.desired.failAt === 1 ? { failIn: 'verify' as const } : {}) }),
      writeMarker({ path: join(dir, `${c.key}.run`), content: 'running', ...(c.desired.failAt === 2 ? { failIn: 'do' as const } : {}) }),
      ...(c.desired.failAt === 3 ? [failingStep({ message: `injected failure in ${c.key}` })] : []),
    ],
    planRemoval: (a) => [stagedRemove({ path: join(dir, `${a.name}.run`) }), stagedRemove({ path: join(dir, a.name) })],
    ...extra,
  };
}

const files = (dir: string) => Object.fromEntries(fs.readdirSync(dir).sort().map((n) => [n, fs.readFileSync(join(dir, n), 'utf8')]));

describe('reconcile: the runner (memory journal, real files)', () => {
  it('creates, updates, repairs, removes only what is ours, in sorted order; exit 0', async () => {
    const { dir } = sandbox({
      upd: `${MARK}old`, 'upd.run': 'running',
      same: `${MARK}same`, 'same.run': 'running',
      drifted: `${MARK}d`,
      gone: `${MARK}bye`, 'gone.run': 'running',
      human: 'not managed',
      root: `${MARK}root carries the marker but is protected`,
      keep: `${MARK}deny-listed`,
    });
    const seen: string[] = [];
    const report = await reconcile(options(dir, [
      { name: 'upd', body: 'new' }, { name: 'new', body: 'n' }, { name: 'same', body: 'same' }, { name: 'drifted', body: 'd' },
    ], { onItem: (r) => seen.push(r.key) }));
    expect(report.exitCode).toBe(0);
    expect(report.status).toBe('converged');
    expect(seen).toEqual(['drifted', 'gone', 'human', 'keep', 'new', 'root', 'same', 'upd']);
    expect(Object.fromEntries(report.items.map((i) => [i.key, i.outcome]))).toEqual({
      drifted: 'repaired', gone: 'removed', human: 'kept-unowned', keep: 'kept-protected', new: 'created', root: 'kept-protected', same: 'unchanged', upd: 'updated',
    });
    expect(report.items.find((i) => i.key === 'drifted')).toMatchObject({ action: 'repair', drift: 'not running', message: 'repaired (not running)' });
    expect(report.items.find((i) => i.key === 'same')?.transaction).toBeUndefined();
    expect(files(dir)).toEqual({
      drifted: `${MARK}d`, 'drifted.run': 'running',
      human: 'not managed',
      keep: `${MARK}deny-listed`,
      new: `${MARK}n`, 'new.run': 'running',
      root: `${MARK}root carries the marker but is protected`,
      same: `${MARK}same`, 'same.run': 'running',
      upd: `${MARK}new`, 'upd.run': 'running',
    });
  });

  it.each([1, 2, 3])('a failure at step %i of one item rolls back that item only; the others converge; exit 1', async (failAt) => {
    const { dir, status } = sandbox({ b: `${MARK}old-b`, 'b.run': 'running', z: `${MARK}z` });
    const report = await reconcile(options(dir, [{ name: 'a', body: 'A' }, { name: 'b', body: 'B', failAt }, { name: 'c', body: 'C' }], { statusFile: status }));
    expect(report.exitCode).toBe(1);
    expect(report.status).toBe('failed');
    const b = report.items.find((i) => i.key === 'b')!;
    expect(b).toMatchObject({ outcome: 'failed', action: 'update', transaction: { status: 'rolled-back' } });
    expect(b.message).toMatch(new RegExp(`failed at step ${failAt} .*rolled back`));
    expect(b.error?.message).toBeTruthy();
    expect(files(dir)).toEqual({ a: `${MARK}A`, 'a.run': 'running', b: `${MARK}old-b`, 'b.run': 'running', c: `${MARK}C`, 'c.run': 'running' });
    const written = readStatusFile(status)!;
    expect(written.items.map((i) => [i.key, i.outcome])).toEqual([['a', 'created'], ['b', 'failed'], ['c', 'created'], ['z', 'removed']]);
    expect(written.exitCode).toBe(1);
    expect(fs.readdirSync(join(status, '..')).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('a status file in a directory another user could change (or make) is refused before anything is touched; exit 4', async () => {
    const { dir } = sandbox({ old: `${MARK}x` });
    const shared = join(dir, '..', 'shared');
    fs.mkdirSync(shared);
    fs.chmodSync(shared, 0o1777);
    const theirs = join(dir, '..', 'theirs');
    fs.mkdirSync(theirs);
    fs.chownSync(theirs, 65534, 65534);
    const before = treeState(join(dir, '..'));
    for (const [statusFile, why] of [
      [join(shared, 'status.json'), 'is writable by group or others (mode 1777)'],
      [join(shared, 'app', 'status.json'), 'does not exist, and another user could make it'],
      [join(theirs, 'status.json'), 'is owned by uid 65534'],
    ] as const) {
      const report = await reconcile(options(dir, [{ name: 'a', body: 'A' }], { statusFile }));
      expect(report).toMatchObject({ status: 'refused', exitCode: 4, cause: { code: 'UNSAFE_DIRECTORY' } });
      expect(report.cause?.message).toContain(why);
    }
    expect(treeState(join(dir, '..'))).toEqual(before);
  });

  it('refuses the whole run with every problem listed, before any change; exit 4', async () => {
    const { dir, status } = sandbox({ old: `${MARK}x` });
    const before = treeState(dir);
    let planned = 0;
    const report = await reconcile(options(dir, [{ name: 'a', body: 'ok' }, { name: 'root', body: 'x' }, { name: 'bad name', body: 'x' }, { name: 'n', body: 'nul\0' }, { name: 'a', body: 'again' }], {
      statusFile: status,
      plan: () => {
        planned++;
        return [];
      },
    }));
    expect(report.exitCode).toBe(4);
    expect(report.status).toBe('refused');
    expect(report.problems.map((p) => `${p.key ?? '-'}: ${p.message}`)).toEqual([
      expect.stringMatching(/^root: .*protected/),
      expect.stringMatching(/^-: item 3: .*whitespace/),
      'n: body contains NUL',
      'a: "a" is desired more than once',
    ]);
    expect(planned).toBe(0);
    expect(report.items).toEqual([]);
    expect(treeState(dir)).toEqual(before);
    expect(readStatusFile(status)?.problems).toHaveLength(4);
  });

  it('checks every planned step argument before the first item changes anything', async () => {
    const { dir } = sandbox();
    const report = await reconcile(options(dir, [{ name: 'a', body: 'A' }, { name: 'z', body: 'Z' }], {
      plan: (c) => [writeMarker({ path: join(dir, c.key), content: c.desired.body }), ...(c.key === 'z' ? [writeMarker({ path: 42 } as never)] : [])],
    }));
    expect(report.exitCode).toBe(4);
    expect(report.problems).toEqual([{ key: 'z', message: expect.stringMatching(/^step 2 \(test.writeMarker\): .*invalid arguments/) }]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('never adopts an existing item without the marker: that item fails, the others run', async () => {
    const { dir } = sandbox({ alice: 'a human' });
    const report = await reconcile(options(dir, [{ name: 'alice', body: 'x' }, { name: 'b', body: 'B' }]));
    expect(report.exitCode).toBe(1);
    expect(report.items[0]).toMatchObject({ key: 'alice', outcome: 'failed', error: { code: 'RECONCILE_CONFLICT' } });
    expect(files(dir)).toEqual({ alice: 'a human', b: `${MARK}B`, 'b.run': 'running' });
  });

  it('a failing drift check fails that item only', async () => {
    const { dir } = sandbox({ a: `${MARK}A`, 'a.run': 'running' });
    const report = await reconcile(options(dir, [{ name: 'a', body: 'A' }, { name: 'b', body: 'B' }], {
      check: async (d) => {
        if (d.name === 'a') throw new Error('probe timed out');
        return undefined;
      },
    }));
    expect(report.items.map((i) => [i.key, i.outcome, i.message])).toEqual([['a', 'failed', 'the drift check failed: probe timed out'], ['b', 'created', 'created']]);
    expect(report.exitCode).toBe(1);
  });

  it('a desired key protected only in the light of the actual item is refused', async () => {
    const { dir } = sandbox({ sys: `${MARK}S` });
    const report = await reconcile(options(dir, [{ name: 'sys', body: 'S' }], { protect: (_k, a) => (a && a.content.includes('S') ? 'system account' : false) }));
    expect(report.exitCode).toBe(4);
    expect(report.problems[0]?.message).toMatch(/protected \(system account\)/);
  });

  it('a cancelled run rolls back the current item and skips the rest', async () => {
    const { dir } = sandbox();
    const controller = new AbortController();
    const report = await reconcile(options(dir, [{ name: 'a', body: 'A' }, { name: 'b', body: 'B' }, { name: 'c', body: 'C' }], {
      signal: controller.signal,
      onEvent: (key, event) => {
        if (key === 'b' && event.type === 'step:verified') controller.abort();
      },
    }));
    expect(report.items.map((i) => [i.key, i.outcome])).toEqual([['a', 'created'], ['b', 'failed'], ['c', 'skipped']]);
    expect(report.exitCode).toBe(1);
    expect(files(dir)).toEqual({ a: `${MARK}A`, 'a.run': 'running' });
  });
});

describe('reconcile: the lock and the file journal', () => {
  it('takes one lock for the whole run; a second run is refused at once (exit 3, a LOCK_HELD cause naming the holder), touching nothing', async () => {
    const { dir } = sandbox();
    const root = join(dir, '..', 'journal');
    fs.mkdirSync(root, { mode: 0o700 });
    const held = acquireLock(root, { purpose: 'another run' });
    try {
      const journal: Journal = fileJournal({ root });
      const rootBefore = treeState(root);
      const report = await reconcile(options(dir, [{ name: 'a', body: 'A' }], { journal, statusFile: undefined }));
      expect(report).toMatchObject({ status: 'refused', exitCode: 3, items: [], problems: [], cause: { code: 'LOCK_HELD', name: 'LockHeldError' } });
      expect(report.cause?.code === 'LOCK_HELD' && report.cause.holder).toMatchObject({ pid: process.pid, purpose: 'another run' });
      expect(report.cause?.message).toContain(`pid ${process.pid}`);
      expect(report.statusFile).toBeUndefined();
      expect(fs.readdirSync(dir)).toEqual([]);
      expect(treeState(root)).toEqual(rootBefore);
      expect(fs.existsSync(join(root, 'status.json'))).toBe(false);
    } finally {
      held.release();
    }
  });

  it('a journal root that cannot be used (writable by others) is refused the same way: exit 4, an UNSAFE_DIRECTORY cause, nothing touched', async () => {
    const { dir } = sandbox();
    const root = join(dir, '..', 'journal');
    fs.mkdirSync(root, { mode: 0o700 });
    fs.chmodSync(root, 0o777);
    const report = await reconcile(options(dir, [{ name: 'a', body: 'A' }], { journal: fileJournal({ root }), statusFile: undefined }));
    expect(report).toMatchObject({ status: 'refused', exitCode: 4, items: [], cause: { code: 'UNSAFE_DIRECTORY' } });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it('runs every item as its own journaled transaction under the one lock, and writes status.json beside the journals', async () => {
    const { dir } = sandbox();
    const root = join(dir, '..', 'journal');
    const lockFiles: boolean[] = [];
    const report = await reconcile(options(dir, [{ name: 'a', body: 'A' }, { name: 'b', body: 'B' }], {
      journal: fileJournal({ root, retention: 'keep' }),
      statusFile: undefined,
      onEvent: (_key, event) => {
        if (event.type === 'step:start') lockFiles.push(fs.existsSync(join(root, 'unwind.lock')));
      },
    }));
    expect(report.exitCode).toBe(0);
    expect(lockFiles).toEqual([true, true, true, true]);
    expect(fs.existsSync(join(root, 'unwind.lock'))).toBe(false);
    expect(report.items.map((i) => i.transaction?.id)).toEqual([expect.stringMatching(/test-create-a/), expect.stringMatching(/test-create-b/)]);
    expect(readStatusFile(join(root, 'status.json'))?.items.map((i) => i.outcome)).toEqual(['created', 'created']);
  });
});
