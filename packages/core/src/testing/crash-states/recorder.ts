import type * as FileSystem from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { TraceOperation } from './trace.js';
import { inodeKey } from './inode-key.js';
import { realPathOfCall } from './descriptor-paths.js';

/**
 * The recorder: replaces the mutating functions of the `node:fs` module
 * object with wrappers that call the real function and then append what it
 * changed under `root` to the trace file (one JSON line per operation, the
 * bytes included). Only outermost calls are recorded: when `writeFileSync`
 * calls `writeSync` inside Node, one operation is written, not two.
 *
 * Covered: openSync (O_CREAT, O_TRUNC, O_APPEND), writeSync, writeFileSync,
 * appendFileSync, ftruncateSync, truncateSync, renameSync, linkSync,
 * symlinkSync, unlinkSync, mkdirSync, mkdtempSync, rmdirSync, rmSync,
 * chmodSync, fchmodSync, chownSync, lchownSync, fchownSync, copyFileSync,
 * utimesSync, lutimesSync, futimesSync, fsyncSync, fdatasyncSync,
 * closeSync, and the same names of `fs.promises` (recorded through the
 * synchronous wrapper). Not covered: `FileHandle` methods, callback APIs,
 * and anything a child process (a command) writes.
 */
export function installRecorder(fs: typeof FileSystem, root: string, tracePath: string): RecorderContext {
  const real = { ...fs } as typeof FileSystem;
  const sandbox = resolve(root);
  const inside = (path: string) => path === sandbox || path.startsWith(`${sandbox}/`);
  const traceFd = real.openSync(tracePath, 'w', 0o600);
  // Keyed by device and number: a sandbox may span two filesystems, whose numbers collide.
  const ids = new Map<string, string>();
  let created = 0;
  const idOf = (st: { dev: number; ino: number }) => ids.get(inodeKey(st)) ?? inodeKey(st);
  const newId = (st: { dev: number; ino: number }) => {
    const id = `n${++created}`;
    ids.set(inodeKey(st), id);
    return id;
  };
  real.writeSync(traceFd, `${JSON.stringify({ rootId: idOf(real.lstatSync(sandbox)) })}\n`);
  const emit = (operation: TraceOperation) => real.writeSync(traceFd, `${JSON.stringify(operation)}\n`);
  const lstat = (path: string) => {
    try {
      return real.lstatSync(path);
    } catch {
      return undefined;
    }
  };
  const stat = (path: string) => {
    try {
      return real.statSync(path);
    } catch {
      return undefined;
    }
  };
  const dirOf = (path: string) => idOf(real.lstatSync(dirname(path)));
  const absolute = (path: FileSystem.PathLike) => realPathOfCall(path instanceof URL ? path.pathname : String(path), real.readlinkSync);

  interface Open {
    id: string;
    path: string;
    position: number;
    append: boolean;
  }
  const open = new Map<number, Open>();

  let depth = 0;
  const wrap = <F extends (...args: never[]) => unknown>(name: string, record: (original: F, ...args: Parameters<F>) => ReturnType<F>) => {
    const original = (real as unknown as Record<string, F>)[name]!;
    (fs as unknown as Record<string, unknown>)[name] = function (...args: Parameters<F>) {
      if (depth > 0) return original(...args);
      depth++;
      try {
        return record(original, ...args);
      } finally {
        depth--;
      }
    };
  };

  const flagsOf = (flags: FileSystem.OpenMode | undefined): number => {
    if (typeof flags === 'number') return flags;
    const c = real.constants;
    const table: Record<string, number> = {
      r: c.O_RDONLY, rs: c.O_RDONLY | c.O_SYNC, 'r+': c.O_RDWR, 'rs+': c.O_RDWR | c.O_SYNC,
      w: c.O_TRUNC | c.O_CREAT | c.O_WRONLY, wx: c.O_TRUNC | c.O_CREAT | c.O_WRONLY | c.O_EXCL,
      'w+': c.O_TRUNC | c.O_CREAT | c.O_RDWR, 'wx+': c.O_TRUNC | c.O_CREAT | c.O_RDWR | c.O_EXCL,
      a: c.O_APPEND | c.O_CREAT | c.O_WRONLY, ax: c.O_APPEND | c.O_CREAT | c.O_WRONLY | c.O_EXCL, as: c.O_APPEND | c.O_CREAT | c.O_WRONLY | c.O_SYNC,
      'a+': c.O_APPEND | c.O_CREAT | c.O_RDWR, 'ax+': c.O_APPEND | c.O_CREAT | c.O_RDWR | c.O_EXCL, 'as+': c.O_APPEND | c.O_CREAT | c.O_RDWR | c.O_SYNC,
    };
    return table[flags ?? 'r'] ?? c.O_RDONLY;
  };

  /** Records what opening `path` with `flags` did: a new file, a truncation. */
  const noteOpen = (call: string, path: string, flags: number, before: FileSystem.Stats | undefined, after: FileSystem.Stats) => {
    const c = real.constants;
    let id: string;
    if (before === undefined && flags & c.O_CREAT) {
      id = newId(after);
      emit({ op: 'create', id, dir: dirOf(path), name: basename(path), mode: after.mode & 0o7777, uid: after.uid, gid: after.gid, path, call });
    } else {
      id = idOf(after);
      if (flags & c.O_TRUNC && before !== undefined && before.size > 0 && after.isFile()) emit({ op: 'truncate', id, size: 0, path, call });
    }
    return id;
  };

  const bytesOf = (data: unknown, encoding?: BufferEncoding): Buffer =>
    typeof data === 'string' ? Buffer.from(data, encoding) : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(String(data));

  const noteWrite = (call: string, file: Open, bytes: Buffer, position: number | null | undefined, sizeBefore: number) => {
    let offset: number;
    if (typeof position === 'number' && position >= 0) offset = position;
    else if (file.append) offset = sizeBefore;
    else {
      offset = file.position;
      file.position += bytes.length;
    }
    if (bytes.length > 0) emit({ op: 'write', id: file.id, offset, data: bytes.toString('base64'), path: file.path, call });
  };

  wrap<typeof real.openSync>('openSync', (original, path, flags, mode) => {
    const target = absolute(path);
    if (!inside(target)) return original(path, flags, mode);
    const numeric = flagsOf(flags);
    const before = stat(target);
    const fd = original(path, flags, mode);
    const after = real.fstatSync(fd);
    const id = noteOpen('openSync', target, numeric, before, after);
    open.set(fd, { id, path: target, position: 0, append: Boolean(numeric & real.constants.O_APPEND) });
    return fd;
  });

  wrap<typeof real.closeSync>('closeSync', (original, fd) => {
    open.delete(fd);
    return original(fd);
  });

  wrap<(fd: number, buffer: unknown, a?: unknown, b?: unknown, c?: unknown) => number>('writeSync', (original, fd, buffer, a, b, c) => {
    const file = open.get(fd);
    if (!file) return original(fd, buffer, a, b, c);
    const sizeBefore = real.fstatSync(fd).size;
    const written = original(fd, buffer, a, b, c);
    let bytes: Buffer;
    let position: number | null | undefined;
    if (typeof buffer === 'string') {
      bytes = Buffer.from(buffer, typeof b === 'string' ? (b as BufferEncoding) : 'utf8');
      position = a as number | null | undefined;
    } else if (typeof a === 'object' && a !== null) {
      const options = a as { offset?: number; position?: number | null };
      bytes = bytesOf(buffer).subarray(options.offset ?? 0);
      position = options.position;
    } else {
      bytes = bytesOf(buffer).subarray((a as number | undefined) ?? 0);
      position = c as number | null | undefined;
    }
    noteWrite('writeSync', file, bytes.subarray(0, written), position, sizeBefore);
    return written;
  });

  const writeWhole = (call: string, append: boolean) =>
    (original: (...args: never[]) => unknown, file: FileSystem.PathOrFileDescriptor, data: unknown, options?: FileSystem.WriteFileOptions) => {
      const encoding = (typeof options === 'string' ? options : options?.encoding ?? 'utf8') as BufferEncoding;
      const run = () => (original as (...args: unknown[]) => void)(file, data, options);
      if (typeof file === 'number') {
        const handle = open.get(file);
        if (!handle) return run();
        const sizeBefore = real.fstatSync(file).size;
        run();
        noteWrite(call, append ? { ...handle, append: true } : handle, bytesOf(data, encoding), undefined, sizeBefore);
        return;
      }
      const target = absolute(file as FileSystem.PathLike);
      if (!inside(target)) return run();
      const flags = flagsOf(typeof options === 'object' && options?.flag ? options.flag : append ? 'a' : 'w');
      const before = stat(target);
      run();
      const after = real.statSync(target);
      const id = noteOpen(call, target, flags, before, after);
      const offset = flags & real.constants.O_APPEND ? before?.size ?? 0 : 0;
      const bytes = bytesOf(data, encoding);
      if (bytes.length > 0) emit({ op: 'write', id, offset, data: bytes.toString('base64'), path: target, call });
    };
  wrap('writeFileSync', writeWhole('writeFileSync', false));
  wrap('appendFileSync', writeWhole('appendFileSync', true));

  wrap<typeof real.ftruncateSync>('ftruncateSync', (original, fd, length) => {
    original(fd, length);
    const file = open.get(fd);
    if (file) emit({ op: 'truncate', id: file.id, size: length ?? 0, path: file.path, call: 'ftruncateSync' });
  });
  wrap<typeof real.truncateSync>('truncateSync', (original, path, length) => {
    original(path, length);
    const target = absolute(path);
    if (inside(target)) emit({ op: 'truncate', id: idOf(real.statSync(target)), size: length ?? 0, path: target, call: 'truncateSync' });
  });

  wrap<typeof real.renameSync>('renameSync', (original, from, to) => {
    const source = absolute(from);
    const destination = absolute(to);
    if (!inside(source) && !inside(destination)) return original(from, to);
    const id = idOf(real.lstatSync(source));
    const fromDir = dirOf(source);
    const toDir = dirOf(destination);
    original(from, to);
    emit({ op: 'rename', id, fromDir, fromName: basename(source), toDir, toName: basename(destination), path: `${source} -> ${destination}`, call: 'renameSync' });
  });

  wrap<typeof real.linkSync>('linkSync', (original, existing, path) => {
    const target = absolute(path);
    original(existing, path);
    if (inside(target)) emit({ op: 'link', id: idOf(real.lstatSync(target)), dir: dirOf(target), name: basename(target), path: target, call: 'linkSync' });
  });

  wrap<typeof real.symlinkSync>('symlinkSync', (original, target, path, type) => {
    const where = absolute(path);
    original(target, path, type);
    if (!inside(where)) return;
    const st = real.lstatSync(where);
    emit({ op: 'symlink', id: newId(st), dir: dirOf(where), name: basename(where), target: String(target), uid: st.uid, gid: st.gid, path: where, call: 'symlinkSync' });
  });

  /** Every path under `path`, children before their directory: what a recursive removal unlinks, in order. */
  const removalOrder = (path: string): Array<{ path: string; id: string; dir: string; isDirectory: boolean }> => {
    const st = lstat(path);
    if (!st) return [];
    const entry = { path, id: idOf(st), dir: dirOf(path), isDirectory: st.isDirectory() };
    if (!st.isDirectory()) return [entry];
    return [...real.readdirSync(path).sort().flatMap((name) => removalOrder(join(path, name))), entry];
  };
  const noteRemovals = (call: string, entries: ReturnType<typeof removalOrder>) => {
    for (const e of entries) {
      if (lstat(e.path)) continue; // still there: the removal stopped before it
      emit({ op: e.isDirectory ? 'rmdir' : 'unlink', id: e.id, dir: e.dir, name: basename(e.path), path: e.path, call });
    }
  };

  wrap<typeof real.unlinkSync>('unlinkSync', (original, path) => {
    const target = absolute(path);
    if (!inside(target)) return original(path);
    const entries = removalOrder(target).slice(-1);
    original(path);
    noteRemovals('unlinkSync', entries);
  });
  wrap<typeof real.rmdirSync>('rmdirSync', (original, path, options) => {
    const target = absolute(path);
    if (!inside(target)) return original(path, options);
    const entries = removalOrder(target);
    try {
      original(path, options);
    } finally {
      noteRemovals('rmdirSync', entries);
    }
  });
  wrap<typeof real.rmSync>('rmSync', (original, path, options) => {
    const target = absolute(path);
    if (!inside(target)) return original(path, options);
    const entries = options?.recursive ? removalOrder(target) : removalOrder(target).slice(-1);
    try {
      original(path, options);
    } finally {
      noteRemovals('rmSync', entries);
    }
  });

  const noteDirectories = (call: string, paths: string[]) => {
    for (const path of paths) {
      const st = real.lstatSync(path);
      emit({ op: 'mkdir', id: newId(st), dir: dirOf(path), name: basename(path), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, path, call });
    }
  };
  wrap<(path: FileSystem.PathLike, options?: FileSystem.MakeDirectoryOptions | FileSystem.Mode | null) => string | undefined>('mkdirSync', (original, path, options) => {
    const target = absolute(path);
    if (!inside(target)) return original(path, options);
    const missing: string[] = [];
    for (let dir = target; inside(dir) && !lstat(dir); dir = dirname(dir)) missing.unshift(dir);
    const result = original(path, options);
    noteDirectories('mkdirSync', missing.filter((dir) => lstat(dir)));
    return result;
  });
  wrap<(prefix: string, options?: unknown) => string>('mkdtempSync', (original, prefix, options) => {
    const made = original(prefix, options);
    if (inside(absolute(made))) noteDirectories('mkdtempSync', [absolute(made)]);
    return made;
  });

  const noteAttributes = (call: string, path: string, st: FileSystem.Stats, what: 'chmod' | 'chown' | 'utimes') => {
    const id = idOf(st);
    if (what === 'chmod') emit({ op: 'chmod', id, mode: st.mode & 0o7777, path, call });
    else if (what === 'chown') emit({ op: 'chown', id, uid: st.uid, gid: st.gid, path, call });
    else emit({ op: 'utimes', id, mtimeMs: st.mtimeMs, path, call });
  };
  const byPath = (name: string, what: 'chmod' | 'chown' | 'utimes', follow: boolean) =>
    wrap<(path: FileSystem.PathLike, ...rest: unknown[]) => void>(name, (original, path, ...rest) => {
      original(path, ...rest);
      const target = absolute(path);
      if (inside(target)) noteAttributes(name, target, follow ? real.statSync(target) : real.lstatSync(target), what);
    });
  const byDescriptor = (name: string, what: 'chmod' | 'chown' | 'utimes') =>
    wrap<(fd: number, ...rest: unknown[]) => void>(name, (original, fd, ...rest) => {
      original(fd, ...rest);
      const file = open.get(fd);
      if (file) noteAttributes(name, file.path, real.fstatSync(fd), what);
    });
  byPath('chmodSync', 'chmod', true);
  byPath('chownSync', 'chown', true);
  byPath('lchownSync', 'chown', false);
  byPath('utimesSync', 'utimes', true);
  byPath('lutimesSync', 'utimes', false);
  byDescriptor('fchmodSync', 'chmod');
  byDescriptor('fchownSync', 'chown');
  byDescriptor('futimesSync', 'utimes');

  wrap<typeof real.copyFileSync>('copyFileSync', (original, source, destination, mode) => {
    const target = absolute(destination);
    if (!inside(target)) return original(source, destination, mode);
    const before = stat(target);
    original(source, destination, mode);
    const after = real.statSync(target);
    const id = noteOpen('copyFileSync', target, real.constants.O_CREAT | real.constants.O_TRUNC, before, after);
    const bytes = real.readFileSync(target);
    if (bytes.length > 0) emit({ op: 'write', id, offset: 0, data: bytes.toString('base64'), path: target, call: 'copyFileSync' });
  });

  const sync = (name: 'fsyncSync' | 'fdatasyncSync') =>
    wrap<(fd: number) => void>(name, (original, fd) => {
      original(fd);
      const file = open.get(fd);
      if (file) emit({ op: 'fsync', id: file.id, data: name === 'fdatasyncSync', path: file.path, call: name });
    });
  sync('fsyncSync');
  sync('fdatasyncSync');

  // The promise API, recorded through the synchronous wrappers (same effects, same order).
  const promises = fs.promises as unknown as Record<string, unknown>;
  for (const name of ['writeFile', 'appendFile', 'truncate', 'rename', 'link', 'symlink', 'unlink', 'rmdir', 'rm', 'mkdir', 'mkdtemp', 'chmod', 'chown', 'lchown', 'utimes', 'lutimes', 'copyFile']) {
    const synchronous = (fs as unknown as Record<string, (...args: unknown[]) => unknown>)[`${name}Sync`]!;
    promises[name] = async (...args: unknown[]) => synchronous(...args);
  }
  return { real, sandbox, emit, idOf, newId };
}

/** What the command recorder needs of the file-system recorder. */
export interface RecorderContext {
  real: typeof FileSystem;
  sandbox: string;
  emit: (operation: TraceOperation) => void;
  idOf: (st: { dev: number; ino: number }) => string;
  newId: (st: { dev: number; ino: number }) => string;
}
