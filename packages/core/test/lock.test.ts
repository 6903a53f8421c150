import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, LockHeldError, readLock } from '@unwind/core';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

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

  it('a lock file is read only as a small regular file: a FIFO, a symlink or a huge file is never waited on, followed or read whole, and counts as held (no unwind, and no crash, leaves one); only a holder\'s fields are kept', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const lock = join(dir.path, 'unwind.lock');
    const secret = join(dir.path, 'secret.json');
    fs.writeFileSync(secret, JSON.stringify({ pid: 1, host: hostname(), processStart: '', acquiredAt: 'x', apiToken: 'root only' }));
    const held = () => {
      expect(readLock(dir.path)).toMatchObject({ pid: 0, processStart: 'unreadable', alive: true });
      expect(() => acquireLock(dir.path)).toThrow(/held by a file no unwind wrote/);
    };
    fs.symlinkSync(secret, lock);
    held();
    fs.rmSync(lock);
    fs.writeFileSync(lock, fs.readFileSync(secret));
    expect(readLock(dir.path)).not.toHaveProperty('apiToken');
    fs.rmSync(lock);
    expect(spawnSync('mkfifo', [lock]).status).toBe(0);
    held(); // would hang before
    fs.rmSync(lock);
    fs.writeFileSync(lock, ' '.repeat(70 * 1024) + JSON.stringify({ pid: process.pid, host: hostname(), processStart: '', acquiredAt: 'x' }));
    held();
    fs.rmSync(lock);
    // A socket cannot even be opened (ENXIO): held too, and left there.
    const socket = net.createServer().listen(lock);
    try {
      held();
      expect(fs.lstatSync(lock).isSocket()).toBe(true);
    } finally {
      socket.close();
    }
    fs.rmSync(lock, { force: true });
    acquireLock(dir.path).release();
  });

  it('a purpose of any length is cut short in the lock file: a live holder with a long transaction name is never read as torn and taken over', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const purpose = 'a long transaction name '.repeat(4000);
    const lock = acquireLock(dir.path, { purpose });
    try {
      expect(fs.statSync(join(dir.path, 'unwind.lock')).size).toBeLessThan(1024);
      expect(readLock(dir.path)).toMatchObject({ pid: process.pid, alive: true, purpose: `${purpose.slice(0, 255)}…` });
      expect(() => acquireLock(dir.path)).toThrow(LockHeldError);
    } finally {
      lock.release();
    }
  });

  it('nothing of the lock stays after the release: not its file, not its temp name; the release removes only the file it linked', () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const lock = acquireLock(dir.path);
    expect(fs.readdirSync(dir.path)).toEqual(['unwind.lock']);
    expect(fs.statSync(lock.path).nlink).toBe(1);
    lock.release();
    expect(fs.readdirSync(dir.path)).toEqual([]);
    // A lock file that is no longer the one linked, and names another holder (taken over), is left alone.
    const second = acquireLock(dir.path);
    fs.rmSync(second.path);
    const other = JSON.stringify({ pid: 1, host: hostname(), processStart: '1', acquiredAt: 'x' });
    fs.writeFileSync(second.path, other);
    second.release();
    expect(fs.readFileSync(second.path, 'utf8')).toBe(other);
    fs.rmSync(second.path);
    // One that is another file now but names this very lock (a copy put in its place) is removed.
    const third = acquireLock(dir.path);
    const copy = fs.readFileSync(third.path);
    fs.rmSync(third.path);
    fs.writeFileSync(third.path, copy);
    third.release();
    expect(fs.readdirSync(dir.path)).toEqual([]);
  });
});
