import { describe, expect, it } from 'vitest';
import { holes, tearPoints } from '../src/testing/crash-states/durability.js';
import { applyOperations, type FileSystemModel } from '../src/testing/crash-states/model.js';
import { crashStates, seededRandom } from '../src/testing/crash-states/states.js';
import type { TraceOperation } from '../src/testing/crash-states/trace.js';

// The power-loss model's torn writes: a disk writes a 512-byte sector whole, not a 4 KiB block.
const write = (offset: number, length: number, call = 'writeSync'): TraceOperation =>
  ({ op: 'write', id: 'f', offset, data: Buffer.alloc(length, 1).toString('base64'), path: '/f', call }) as TraceOperation;

describe('the power-loss model tears a write at sector boundaries', () => {
  it('at the first and the last sector boundary inside the write; never a write inside one sector, nor a command\'s', () => {
    expect(tearPoints(write(0, 4096))).toEqual([512, 3584]);
    expect(tearPoints(write(300, 400))).toEqual([212]);
    expect(tearPoints(write(0, 512))).toEqual([]);
    expect(tearPoints(write(100, 200))).toEqual([]);
    expect(tearPoints(write(0, 4096, 'command 3: groupadd -g 5 g'))).toEqual([]);
  });

  it('a torn write keeps the part before a tear point or the part after it, the rest of the file as it was', () => {
    const create: TraceOperation = { op: 'create', id: 'f', dir: 'root', name: 'f', mode: 0o600, uid: 0, gid: 0, path: '/f', call: 'openSync' } as TraceOperation;
    const operations = [create, write(0, 1024)];
    // The create synced by nothing either: every state keeps or loses it; the write is free to tear.
    const states = crashStates(operations, 2, { limit: 100, random: seededRandom(1) });
    const kept = states.filter((s) => s.partial.has(1)).map((s) => s.partial.get(1));
    expect(kept).toEqual(expect.arrayContaining([{ from: 0, to: 512 }, { from: 512, to: 1024 }]));
    const initial: FileSystemModel = { rootId: 'root', inodes: new Map([['root', { type: 'dir', mode: 0o755, uid: 0, gid: 0, entries: new Map<string, string>() }]]) };
    const tail = applyOperations(initial, [{ operation: create }, { operation: operations[1]!, keepBytes: { from: 512, to: 1024 } }]);
    const data = tail.inodes.get('f')!.data!;
    expect([data.length, data[0], data[511], data[512], data[1023]]).toEqual([1024, 0, 0, 1, 1]);
  });

  it('a write that spans a whole sector between its first and last boundary may lose that sector and keep both its ends', () => {
    expect(holes(write(0, 4096))).toEqual([{ from: 512, to: 1024 }, { from: 3072, to: 3584 }]);
    expect(holes(write(300, 1300))).toEqual([{ from: 212, to: 724 }, { from: 724, to: 1236 }]);
    expect(holes(write(300, 1000))).toEqual([{ from: 212, to: 724 }]);
    expect(holes(write(0, 1024))).toEqual([]);
    expect(holes(write(0, 4096, 'command 3: groupadd -g 5 g'))).toEqual([]);
  });

  it('a hole keeps what was under it, and the states include it even past the limit (for the newest write)', () => {
    const create: TraceOperation = { op: 'create', id: 'f', dir: 'root', name: 'f', mode: 0o600, uid: 0, gid: 0, path: '/f', call: 'openSync' } as TraceOperation;
    const first = { ...write(0, 2048), data: Buffer.alloc(2048, 1).toString('base64') } as TraceOperation;
    const second = { ...write(0, 2048), data: Buffer.alloc(2048, 2).toString('base64') } as TraceOperation;
    const fsync = { op: 'fsync', id: 'f', data: true, path: '/f', call: 'fdatasyncSync' } as TraceOperation;
    const operations = [create, first, fsync, second];
    for (const limit of [100, 4]) {
      const states = crashStates(operations, 4, { limit, random: seededRandom(1) });
      const kept = states.filter((s) => s.partial.has(3)).map((s) => s.partial.get(3));
      expect(kept).toEqual(expect.arrayContaining([{ from: 0, to: 2048, lost: { from: 512, to: 1024 } }, { from: 0, to: 2048, lost: { from: 1024, to: 1536 } }]));
    }
    const initial: FileSystemModel = { rootId: 'root', inodes: new Map([['root', { type: 'dir', mode: 0o755, uid: 0, gid: 0, entries: new Map<string, string>() }]]) };
    const holed = applyOperations(initial, [{ operation: create }, { operation: first }, { operation: second, keepBytes: { from: 0, to: 2048, lost: { from: 512, to: 1024 } } }]);
    const data = holed.inodes.get('f')!.data!;
    expect([data.length, data[0], data[511], data[512], data[1023], data[1024], data[2047]]).toEqual([2048, 2, 2, 1, 1, 2, 2]);
  });
});
