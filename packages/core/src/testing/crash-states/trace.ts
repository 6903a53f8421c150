import * as fs from 'node:fs';

/**
 * What the recorder writes, one JSON object per line: the file-system
 * operations a run made under its sandbox, in the order they returned.
 *
 * Inodes are named by logical ids, not paths: `i<device>.<ino>` for an inode that
 * existed when the run started, `n<k>` for the k-th one the run created (a
 * freed inode number the kernel hands out again gets a new id). Directory
 * entries are named by the id of their directory plus a name, so a rename of
 * a directory never changes what a later operation refers to.
 */

/** An operation that changes a directory entry. */
export type NamespaceOperation =
  | { op: 'create'; id: string; dir: string; name: string; mode: number; uid: number; gid: number }
  | { op: 'mkdir'; id: string; dir: string; name: string; mode: number; uid: number; gid: number }
  | { op: 'symlink'; id: string; dir: string; name: string; target: string; uid: number; gid: number }
  | { op: 'link'; id: string; dir: string; name: string }
  | { op: 'unlink'; id: string; dir: string; name: string }
  | { op: 'rmdir'; id: string; dir: string; name: string }
  | { op: 'rename'; id: string; fromDir: string; fromName: string; toDir: string; toName: string };

/** An operation that changes an inode's data or attributes. */
export type InodeOperation =
  | { op: 'write'; id: string; offset: number; data: string /* base64 */ }
  | { op: 'truncate'; id: string; size: number }
  | { op: 'chmod'; id: string; mode: number }
  | { op: 'chown'; id: string; uid: number; gid: number }
  | { op: 'utimes'; id: string; mtimeMs: number };

/** `fsync` (`data: false`) or `fdatasync` (`data: true`) of a file or a directory. */
export type SyncOperation = { op: 'fsync'; id: string; data: boolean };

/**
 * One recorded file-system operation, as the recorder wrote it.
 *
 * @example
 * ```ts
 * const ops: TraceOperation[] = readTrace(tracePath).operations;
 * const syncs = ops.filter((o) => o.op === 'fsync').length;
 * ```
 */
export type TraceOperation = (NamespaceOperation | InodeOperation | SyncOperation) & {
  /** The path it was called with, for reports only. */
  path: string;
  /** The function that made it, e.g. `renameSync`. */
  call: string;
};

/**
 * A trace read back: the operations and the id of the sandbox root.
 *
 * @example
 * ```ts
 * const trace: Trace = readTrace('/tmp/run/trace.jsonl');
 * const renames = trace.operations.filter((o) => o.op === 'rename');
 * ```
 */
export interface Trace {
  rootId: string;
  operations: TraceOperation[];
}

/**
 * Reads a trace file the recorder wrote.
 *
 * @example
 * ```ts
 * const { operations } = readTrace('/tmp/run/trace.jsonl');
 * console.log(`${operations.length} operations`);
 * ```
 */
export function readTrace(path: string): Trace {
  const lines = fs.readFileSync(path, 'utf8').split('\n').filter((line) => line.length > 0);
  const header = JSON.parse(lines[0] ?? '{}') as { rootId?: string };
  if (!header.rootId) throw new Error(`${path} is not a crash-state trace (no header line)`);
  return { rootId: header.rootId, operations: lines.slice(1).map((line) => JSON.parse(line) as TraceOperation) };
}

/** True for operations that change a directory entry. */
export function isNamespaceOperation(operation: TraceOperation): operation is TraceOperation & NamespaceOperation {
  return ['create', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename'].includes(operation.op);
}

/** A one-line description of an operation, for divergence reports. */
export function describeOperation(index: number, operation: TraceOperation): string {
  const detail =
    operation.op === 'write' ? ` ${Buffer.from(operation.data, 'base64').length} bytes at ${operation.offset}` :
    operation.op === 'truncate' ? ` to ${operation.size}` :
    operation.op === 'chmod' ? ` ${operation.mode.toString(8)}` :
    operation.op === 'fsync' ? (operation.data ? ' (fdatasync)' : '') : '';
  return `#${index} ${operation.op}${detail} ${operation.path} (${operation.call})`;
}
