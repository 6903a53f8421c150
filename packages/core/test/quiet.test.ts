// The library is quiet in someone else's process: no warnings, no writes to
// the process's streams, no process.exit. It reports through events and the
// logger; a program opts in to printing and exiting.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as t from 'io-ts';
import { acquireLock, defineStep, fileJournal, transaction, type TransactionEvent } from '@unwind/core';
import { noopStep } from '@unwind/core/testing';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
  vi.restoreAllMocks();
});

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('quiet in someone else\'s process', () => {
  it('taking over a stale lock emits no process warning; the lock and a lock:stale event name the dead holder', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const root = join(dir.path, 'journal');
    fs.mkdirSync(root, { mode: 0o700 });
    const stale = { pid: deadPid(), host: hostname(), processStart: '1', acquiredAt: '2026-01-01T00:00:00.000Z' };
    fs.writeFileSync(join(root, 'unwind.lock'), JSON.stringify(stale));
    const warnings: unknown[] = [];
    const onWarning = (w: unknown) => warnings.push(w);
    process.on('warning', onWarning);
    cleanups.push(() => process.off('warning', onWarning));
    const emitWarning = vi.spyOn(process, 'emitWarning');
    const stderr = vi.spyOn(process.stderr, 'write');

    const events: TransactionEvent[] = [];
    const outcome = await transaction('after a crash', { journal: fileJournal({ root }), handleSignals: false, onEvent: (e) => events.push(e) }).run();
    expect(outcome.status).toBe('committed');
    expect(events[0]).toEqual({ type: 'lock:stale', path: join(root, 'unwind.lock'), holder: stale });

    fs.writeFileSync(join(root, 'unwind.lock'), JSON.stringify(stale));
    const lock = acquireLock(root);
    expect(lock.tookOverFrom).toEqual(stale);
    lock.release();
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    expect(emitWarning).not.toHaveBeenCalled();
    expect(warnings).toEqual([]);
    expect(stderr).not.toHaveBeenCalled();
  });

  it('a third signal goes to onThirdSignal; without one, unwind neither exits nor writes, and stops trapping', async () => {
    for (const withHandler of [true, false]) {
      const dir = tempDir();
      cleanups.push(dir.remove);
      const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
      const stderr = vi.spyOn(process.stderr, 'write');
      const third: string[] = [];
      const signalled = defineStep({
        type: 'test.signalItself',
        args: t.type({}),
        before: t.null,
        describe: () => 'signal this process three times',
        prepare: async () => null,
        do: async () => {
          for (let i = 0; i < 3; i++) {
            process.kill(process.pid, 'SIGTERM');
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        undo: async () => {},
      });
      const listenersBefore = process.listenerCount('SIGTERM');
      const events: TransactionEvent[] = [];
      const tx = transaction('signals', {
        journal: fileJournal({ root: join(dir.path, 'journal') }),
        onEvent: (e) => events.push(e),
        ...(withHandler ? { onThirdSignal: (signal: NodeJS.Signals) => third.push(signal) } : {}),
      });
      tx.add(signalled({}));
      tx.add(noopStep({})); // the cancelled run stops before it and rolls back
      const outcome = await tx.run();
      expect(outcome.status).toBe('rolled-back');
      expect(events.filter((e) => e.type === 'signal').map((e) => (e as { count: number }).count)).toEqual([1, 2, 3]);
      expect(third).toEqual(withHandler ? ['SIGTERM'] : []);
      expect(exit).not.toHaveBeenCalled();
      expect(stderr).not.toHaveBeenCalled();
      expect(process.listenerCount('SIGTERM')).toBe(listenersBefore);
      vi.restoreAllMocks();
    }
  });
});
