import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, LockHeldError, readLock } from '@unwind/core';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** The names in `dir`, this process's kept lock file (see lock.ts's spares) apart, which must be there exactly once. */
function namesBesideOwnLockFile(dir: string, lock = 'unwind.lock'): string[] {
  const names = fs.readdirSync(dir).sort();
  const own = names.filter((name) => name.startsWith(`${lock}.${process.pid}.`) && /\.[0-9a-f]{12}$/.test(name) && !name.endsWith('.aaaaaaaaaaaa'));
  expect(own).toHaveLength(1);
  return names.filter((name) => name !== own[0]);
}

/** Runs `body` (an ES module's text, with `acquireLock` imported) in a new node process; resolves with the child. */
function lockChild(body: string) {
  return spawn(process.execPath, ['--import', 'tsx', '-e', `
    const { acquireLock } = await import(${JSON.stringify(join(import.meta.dirname, '../src/lock.ts'))});
    ${body}
  `], { stdio: ['ignore', 'pipe', 'inherit'], cwd: join(import.meta.dirname, '../../..') });
}

describe('lock', () => {
  it('a second taker fails fast with an error naming the holder; release frees it', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const lock = acquireLock(dir.path, { purpose: 'first' });
    expect(() => acquireLock(dir.path)).toThrow(LockHeldError);
    try {
      acquireLock(dir.path);
    } catch (error) {
      expect((error as LockHeldError).holder).toMatchObject({ pid: process.pid, purpose: 'first' });
    }
    expect(readLock(dir.path)).toMatchObject({ pid: process.pid, alive: true });
    lock.release();
    expect(readLock(dir.path)).toBeUndefined();
    acquireLock(dir.path).release();
  });

  it("acquiring removes a dead writer's lock temp files (a power cut kept their creation, lost their removal), never a live one's", () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const deadPid = 2 ** 22 + 17; // above pid_max: no such process
    const dead = join(dir.path, `unwind.lock.${deadPid}.0123456789ab`);
    fs.writeFileSync(dead, JSON.stringify({ pid: deadPid, host: hostname(), processStart: '1', acquiredAt: 'x' }));
    const torn = join(dir.path, `unwind.lock.takeover.${deadPid}.ba9876543210`);
    fs.writeFileSync(torn, ''); // created, its content lost
    const live = join(dir.path, `unwind.lock.${process.pid}.aaaaaaaaaaaa`);
    fs.writeFileSync(live, ''); // a live process is writing it
    const other = join(dir.path, `other.lock.${deadPid}.0123456789ab`);
    fs.writeFileSync(other, '');
    acquireLock(dir.path).release();
    expect(fs.readdirSync(dir.path).sort()).toEqual([`other.lock.${deadPid}.0123456789ab`, `unwind.lock.${process.pid}.aaaaaaaaaaaa`]);
  });

  it("acquiring removes a dead process's take-over guard (a power cut kept the guard, lost its removal), never a live one's", () => {
    // Found by a second power cut during recovery: the stale lock was taken over and removed, the guard's
    // removal was lost, and no later acquire (no stale lock left to take over) ever removed the guard.
    const deadPid = 2 ** 22 + 17; // above pid_max: no such process
    for (const [holder, removed] of [[{ pid: deadPid, host: hostname(), processStart: '1', acquiredAt: 'x' }, true], [{ pid: process.pid, host: hostname(), processStart: '', acquiredAt: 'x' }, false]] as const) {
      const dir = tempDir();
      cleanups.push(dir.remove);
      fs.writeFileSync(join(dir.path, 'unwind.lock.takeover'), JSON.stringify(holder));
      acquireLock(dir.path).release();
      expect(fs.readdirSync(dir.path)).toEqual(removed ? [] : ['unwind.lock.takeover']);
    }
  });

  it("a dead holder's lock is stale and taken over", async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    // A real process that takes the lock and is then killed without releasing it.
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', `
      const { acquireLock } = await import(${JSON.stringify(join(import.meta.dirname, '../src/lock.ts'))});
      acquireLock(${JSON.stringify(dir.path)}, { purpose: 'doomed' });
      process.stdout.write('locked');
      setInterval(() => {}, 1000);
    `], { stdio: ['ignore', 'pipe', 'inherit'], cwd: join(import.meta.dirname, '../../..') });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    expect(readLock(dir.path)).toMatchObject({ pid: child.pid, alive: true });
    expect(() => acquireLock(dir.path)).toThrow(LockHeldError);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    expect(readLock(dir.path)?.alive).toBe(false);
    const lock = acquireLock(dir.path, { purpose: 'successor' });
    expect(readLock(dir.path)).toMatchObject({ pid: process.pid, purpose: 'successor' });
    lock.release();
  });

  it('a reused pid is not mistaken for the holder (process start time differs)', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    fs.writeFileSync(join(dir.path, 'unwind.lock'), JSON.stringify({ pid: process.pid, host: hostname(), processStart: '1', acquiredAt: 'long ago' }));
    const lock = acquireLock(dir.path);
    expect(lock.holder.pid).toBe(process.pid);
    lock.release();
  });

  it('a torn (unparseable) lock file is stale', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    fs.writeFileSync(join(dir.path, 'unwind.lock'), '{"pid":');
    acquireLock(dir.path).release();
  });

  it('with keepFile, a released lock file is kept under its temp name and linked into place again by the next acquire: the same file, holding the new holder', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const first = acquireLock(dir.path, { purpose: 'a longer purpose than the next one', keepFile: true });
    const inode = fs.statSync(first.path).ino;
    expect(fs.statSync(first.path).nlink).toBe(2); // the lock path and the temp name
    first.release();
    expect(fs.existsSync(first.path)).toBe(false);
    const [kept] = fs.readdirSync(dir.path);
    expect(kept).toMatch(new RegExp(`^unwind\\.lock\\.${process.pid}\\.[0-9a-f]{12}$`));
    expect(fs.statSync(join(dir.path, kept!)).ino).toBe(inode);
    const second = acquireLock(dir.path, { purpose: 'short', keepFile: true });
    expect(fs.statSync(second.path).ino).toBe(inode);
    // Written over in place: the shorter holder is padded with spaces, and reads back whole.
    expect(readLock(dir.path)).toMatchObject({ pid: process.pid, purpose: 'short', acquiredAt: second.holder.acquiredAt, alive: true });
    expect(fs.readFileSync(second.path, 'utf8')).toMatch(/} +$/);
    expect(() => acquireLock(dir.path, { keepFile: true })).toThrow(LockHeldError);
    second.release();
    expect(fs.readdirSync(dir.path)).toEqual([kept]);
  });

  it('with keepFile, a kept lock file whose temp name was removed, or names another file now, is not used: a new one is made, and the other file is left alone', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    acquireLock(dir.path, { keepFile: true }).release();
    const [kept] = fs.readdirSync(dir.path);
    fs.rmSync(join(dir.path, kept!));
    const lock = acquireLock(dir.path, { purpose: 'after removal', keepFile: true });
    expect(readLock(dir.path)).toMatchObject({ pid: process.pid, purpose: 'after removal' });
    lock.release();
    const [second] = fs.readdirSync(dir.path);
    expect(second).not.toBe(kept);
    // Replaced by another file under the same name (a holder that is not this process).
    fs.rmSync(join(dir.path, second!));
    const foreign = JSON.stringify({ pid: 1, host: 'elsewhere', processStart: '1', acquiredAt: 'x', purpose: 'not ours' });
    fs.writeFileSync(join(dir.path, second!), foreign, { mode: 0o600 });
    const again = acquireLock(dir.path, { purpose: 'after replacement', keepFile: true });
    expect(readLock(dir.path)).toMatchObject({ pid: process.pid, purpose: 'after replacement' });
    expect(fs.readFileSync(join(dir.path, second!), 'utf8')).toBe(foreign);
    expect(fs.statSync(join(dir.path, second!)).nlink).toBe(1);
    again.release();
    const names = fs.readdirSync(dir.path);
    expect(names).toHaveLength(2); // the other file, and the new kept one
    expect(names).toContain(second);
  });

  it("a process's kept lock file is removed when it exits, and one a SIGKILL left is removed by the next acquire", async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const exiting = lockChild(`acquireLock(${JSON.stringify(dir.path)}, { keepFile: true }).release(); acquireLock(${JSON.stringify(dir.path)}, { keepFile: true }).release(); process.stdout.write(String((await import('node:fs')).readdirSync(${JSON.stringify(dir.path)}).length));`);
    let said = '';
    exiting.stdout!.on('data', (chunk) => (said += String(chunk)));
    expect(await new Promise((resolve) => exiting.once('close', resolve))).toBe(0);
    expect(said).toBe('1'); // kept while it ran
    expect(fs.readdirSync(dir.path)).toEqual([]);
    const killed = lockChild(`acquireLock(${JSON.stringify(dir.path)}, { keepFile: true }).release(); process.stdout.write('released'); setInterval(() => {}, 1000);`);
    await new Promise<void>((resolve) => killed.stdout!.once('data', () => resolve()));
    killed.kill('SIGKILL');
    await new Promise((resolve) => killed.once('close', resolve));
    expect(fs.readdirSync(dir.path)).toEqual([expect.stringMatching(new RegExp(`^unwind\\.lock\\.${killed.pid}\\.[0-9a-f]{12}$`))]);
    acquireLock(dir.path, { keepFile: true }).release();
    expect(namesBesideOwnLockFile(dir.path)).toEqual([]);
  });

  it('without keepFile, nothing of the lock stays after the release: not its file, not its temp name', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const lock = acquireLock(dir.path);
    expect(fs.readdirSync(dir.path)).toEqual(['unwind.lock']);
    expect(fs.statSync(lock.path).nlink).toBe(1);
    lock.release();
    expect(fs.readdirSync(dir.path)).toEqual([]);
  });
});
