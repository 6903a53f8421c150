import { isNamespaceOperation, type TraceOperation } from './trace.js';
import { SECTOR_SIZE } from '../../durable.js';

/**
 * The persistence model: which of the operations made before a power cut
 * must be on disk, and which may be lost.
 *
 * - A file's data (write, truncate) is durable once an fsync or fdatasync of
 *   that file follows it; its attributes (chmod, chown, utimes) once an fsync
 *   (not an fdatasync) of it follows.
 * - A directory entry made or removed (create, mkdir, symlink, link, unlink,
 *   rmdir) is durable once an fsync of that directory follows it. An fsync of
 *   a new file does not make its name durable.
 * - A rename is atomic — the entry is at the old name or the new, never
 *   neither, never both — and durable once its destination directory (and
 *   its source directory, when that is another one) has been fsynced.
 * - Everything else may be lost or kept, each operation independently, with
 *   two orderings kept (see {@link dependencies}); a kept write may also be
 *   torn at a 512-byte sector boundary inside it (see tearPoints), or keep
 *   both its ends and lose a sector between them (see holes).
 * - What a command (a child process) changed is kept or lost as a whole, and
 *   no state is built while it runs: its own order and syncs are not seen.
 *   It is durable only through the syncs unwind makes after it.
 */

/** Whether an operation is part of what a command (a child process) changed. */
function isCommand(operation: TraceOperation | undefined): boolean {
  return operation !== undefined && operation.call.startsWith('command ');
}

/**
 * The index ranges of the commands in a trace: a command's changes are
 * recorded together when it exits, one run of operations with the same call.
 */
export function commandRuns(operations: readonly TraceOperation[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (let i = 0; i < operations.length; i++) {
    if (!isCommand(operations[i])) continue;
    let end = i + 1;
    while (end < operations.length && operations[end]!.call === operations[i]!.call) end++;
    runs.push([i, end]);
    i = end - 1;
  }
  return runs;
}

/**
 * Whether a power cut after `point` operations falls inside a command: the
 * tool had not returned, and how far it got is its own business (outside the
 * model), so no state is built there.
 */
export function insideCommand(operations: readonly TraceOperation[], point: number): boolean {
  return point > 0 && point < operations.length && isCommand(operations[point]) && operations[point - 1]!.call === operations[point]!.call;
}

/** For each operation, the others that must be kept whenever it is. */
export function dependencies(operations: readonly TraceOperation[]): number[][] {
  // A command's changes are all kept or all lost: the model does not see the tool's own
  // order and syncs, and assumes its effect as a whole (see docs/power-loss.md).
  const group = new Map<number, number[]>();
  for (const [start, end] of commandRuns(operations)) {
    const members = Array.from({ length: end - start }, (_, i) => start + i);
    for (const k of members) group.set(k, members.filter((m) => m !== k));
  }
  // Operations on one directory entry, and on one inode's names, reach the disk in
  // order: a rename is never kept without the create that made its source name.
  const byKey = new Map<string, number[]>();
  return operations.map((operation, index) => {
    if (!isNamespaceOperation(operation)) return group.get(index) ?? [];
    const keys = [`inode ${operation.id}`];
    if (operation.op === 'rename') keys.push(`entry ${operation.fromDir}/${operation.fromName}`, `entry ${operation.toDir}/${operation.toName}`);
    else keys.push(`entry ${operation.dir}/${operation.name}`);
    const earlier = new Set<number>(group.get(index) ?? []);
    for (const key of keys) {
      for (const i of byKey.get(key) ?? []) earlier.add(i);
      byKey.set(key, [...(byKey.get(key) ?? []), index]);
    }
    return [...earlier];
  });
}

/** Whether a sync at `sync` makes operation `operation` durable. */
function covers(sync: TraceOperation, operation: TraceOperation): boolean {
  if (sync.op !== 'fsync') return false;
  switch (operation.op) {
    case 'write':
    case 'truncate':
      return sync.id === operation.id;
    case 'chmod':
    case 'chown':
    case 'utimes':
      return sync.id === operation.id && !sync.data;
    case 'fsync':
    case 'rename': // handled by durability(): it needs both directories
      return false;
    default:
      return sync.id === operation.dir;
  }
}

/**
 * Which of the first `count` operations are durable (must be kept) and which
 * are free (may be lost or kept) after a power cut following operation
 * `count - 1`. Syncs themselves change nothing and are in neither list.
 *
 * @example
 * ```ts
 * const { durable, free } = durability(trace.operations, 12);
 * ```
 */
export function durability(operations: readonly TraceOperation[], count: number): { durable: number[]; free: number[] } {
  const durable: number[] = [];
  const free: number[] = [];
  for (let k = 0; k < count; k++) {
    const operation = operations[k]!;
    if (operation.op === 'fsync') continue;
    let synced = false;
    if (operation.op === 'rename') {
      let toSynced = false;
      let fromSynced = operation.fromDir === operation.toDir;
      for (let j = k + 1; j < count; j++) {
        const s = operations[j]!;
        if (s.op !== 'fsync') continue;
        if (s.id === operation.toDir) toSynced = true;
        if (s.id === operation.fromDir) fromSynced = true;
      }
      synced = toSynced && fromSynced;
    } else {
      for (let j = k + 1; j < count && !synced; j++) synced = covers(operations[j]!, operation);
    }
    (synced ? durable : free).push(k);
  }
  return { durable, free };
}

/**
 * Where a write may tear: the byte offsets, within the write, of the first
 * and the last sector boundary inside it (see SECTOR_SIZE; one when they
 * are the same, none when it crosses no boundary or when a command made it:
 * what a command changed is kept or lost as a whole, see dependencies).
 */
export function tearPoints(operation: TraceOperation): number[] {
  if (operation.op !== 'write' || isCommand(operation)) return [];
  const length = Buffer.from(operation.data, 'base64').length;
  const first = (Math.floor(operation.offset / SECTOR_SIZE) + 1) * SECTOR_SIZE - operation.offset;
  if (first >= length) return [];
  const last = Math.floor((operation.offset + length - 1) / SECTOR_SIZE) * SECTOR_SIZE - operation.offset;
  return last > first ? [first, last] : [first];
}

/**
 * The sectors a write may lose while keeping the bytes on both sides of
 * them: for a write that spans at least one whole sector between its first
 * and its last boundary, that first whole sector and that last one (the
 * same one when there is one), as byte ranges within the write. A disk
 * writes a request's sectors in any order, so a power cut can leave a hole
 * in the middle of a write with its two ends on the disk.
 */
export function holes(operation: TraceOperation): Array<{ from: number; to: number }> {
  const points = tearPoints(operation);
  if (points.length < 2) return [];
  const [first, last] = points as [number, number];
  const found = [{ from: first, to: first + SECTOR_SIZE }];
  if (last - SECTOR_SIZE > first) found.push({ from: last - SECTOR_SIZE, to: last });
  return found;
}
