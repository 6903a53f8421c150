import * as fs from 'node:fs';
import { join } from 'node:path';
import type { TraceOperation } from './trace.js';
import type { KeptBytes } from './states.js';
import { inodeKey } from './inode-key.js';

/**
 * An in-memory file system of inodes and directory entries: the sandbox as
 * it was before the run, then with a chosen set of the run's operations
 * applied. Every operation has an absolute effect (set this entry, write
 * these bytes here), so any subset of them, applied in order, gives a
 * well-defined tree; an inode no entry reaches is simply gone.
 */
export interface ModelInode {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  mtimeMs?: number;
  data?: Buffer;
  target?: string;
  entries?: Map<string, string>;
}

/** The model of one tree: inodes by id, and the root's id. */
export interface FileSystemModel {
  rootId: string;
  inodes: Map<string, ModelInode>;
}

/**
 * The model of the tree at `root` as it is now, with inodes named as the
 * recorder names pre-existing ones (`i<device>.<ino>`): taken before the run.
 *
 * @example
 * ```ts
 * const initial = modelOfTree(sandbox);
 * ```
 */
export function modelOfTree(root: string): FileSystemModel {
  const inodes = new Map<string, ModelInode>();
  const visit = (path: string): string => {
    const st = fs.lstatSync(path);
    const id = inodeKey(st);
    if (inodes.has(id)) return id; // another hard link to an inode already read
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
    if (st.isDirectory()) {
      const entries = new Map<string, string>();
      inodes.set(id, { ...base, type: 'dir', entries });
      for (const name of fs.readdirSync(path).sort()) entries.set(name, visit(join(path, name)));
    } else if (st.isSymbolicLink()) inodes.set(id, { ...base, type: 'symlink', target: fs.readlinkSync(path) });
    else if (st.isFile()) inodes.set(id, { ...base, type: 'file', data: fs.readFileSync(path) });
    else throw new Error(`${path}: only files, directories and symlinks can be modelled`);
    return id;
  };
  const rootId = visit(root);
  return { rootId, inodes };
}

function cloneInode(inode: ModelInode): ModelInode {
  return { ...inode, ...(inode.data ? { data: Buffer.from(inode.data) } : {}), ...(inode.entries ? { entries: new Map(inode.entries) } : {}) };
}

/**
 * A copy of `model` with `operations` applied in order. `keepBytes` gives,
 * for a write kept only in part, which of its bytes reached the disk (the
 * others left what was there).
 *
 * @example
 * ```ts
 * const state = applyOperations(initial, kept.map((i) => trace.operations[i]!));
 * ```
 */
export function applyOperations(model: FileSystemModel, operations: Iterable<{ operation: TraceOperation; keepBytes?: KeptBytes }>): FileSystemModel {
  const inodes = new Map<string, ModelInode>();
  for (const [id, inode] of model.inodes) inodes.set(id, cloneInode(inode));
  const directory = (id: string) => {
    let inode = inodes.get(id);
    if (!inode) inodes.set(id, (inode = { type: 'dir', mode: 0o755, uid: 0, gid: 0, entries: new Map() })); // its mkdir was lost: unreachable
    return inode.entries ?? new Map<string, string>();
  };
  const file = (id: string) => {
    let inode = inodes.get(id);
    if (!inode) inodes.set(id, (inode = { type: 'file', mode: 0o600, uid: 0, gid: 0, data: Buffer.alloc(0) })); // its creation was lost: unreachable
    return inode;
  };
  for (const { operation: o, keepBytes } of operations) {
    switch (o.op) {
      case 'create':
        inodes.set(o.id, { type: 'file', mode: o.mode, uid: o.uid, gid: o.gid, data: Buffer.alloc(0) });
        directory(o.dir).set(o.name, o.id);
        break;
      case 'mkdir':
        if (!inodes.get(o.id)?.entries) inodes.set(o.id, { type: 'dir', mode: o.mode, uid: o.uid, gid: o.gid, entries: new Map() });
        directory(o.dir).set(o.name, o.id);
        break;
      case 'symlink':
        inodes.set(o.id, { type: 'symlink', mode: 0o777, uid: o.uid, gid: o.gid, target: o.target });
        directory(o.dir).set(o.name, o.id);
        break;
      case 'link':
        directory(o.dir).set(o.name, o.id);
        break;
      case 'unlink':
      case 'rmdir':
        if (directory(o.dir).get(o.name) === o.id) directory(o.dir).delete(o.name);
        break;
      case 'rename':
        if (directory(o.fromDir).get(o.fromName) === o.id) directory(o.fromDir).delete(o.fromName);
        directory(o.toDir).set(o.toName, o.id);
        break;
      case 'write': {
        const inode = file(o.id);
        const written = Buffer.from(o.data, 'base64');
        const from = keepBytes?.from ?? 0;
        const to = keepBytes?.to ?? written.length;
        const old = inode.data ?? Buffer.alloc(0);
        const end = o.offset + to;
        const data = end > old.length ? Buffer.concat([old, Buffer.alloc(end - old.length)]) : Buffer.from(old);
        // A hole keeps what was there (zeros where the write grew the file).
        const pieces = keepBytes?.lost ? [[from, keepBytes.lost.from], [keepBytes.lost.to, to]] : [[from, to]];
        for (const [start, stop] of pieces) written.subarray(start, stop).copy(data, o.offset + start!);
        inode.data = data;
        break;
      }
      case 'truncate': {
        const inode = file(o.id);
        const old = inode.data ?? Buffer.alloc(0);
        inode.data = o.size <= old.length ? old.subarray(0, o.size) : Buffer.concat([old, Buffer.alloc(o.size - old.length)]);
        break;
      }
      case 'chmod':
        file(o.id).mode = o.mode;
        break;
      case 'chown':
        Object.assign(file(o.id), { uid: o.uid, gid: o.gid });
        break;
      case 'utimes':
        file(o.id).mtimeMs = o.mtimeMs;
        break;
      case 'fsync':
        break;
    }
  }
  return { rootId: model.rootId, inodes };
}

/** One reachable path of a model, in materialisation order (parents first). */
export interface ModelEntry {
  path: string;
  id: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  mtimeMs?: number;
  /** base64, for files. */
  data?: string;
  target?: string;
  /** For a second link to an inode: the first path that reached it. */
  linkTo?: string;
}

/**
 * The paths a model's root reaches, parents first, sorted by name; a second
 * path to an inode is a hard link to the first.
 *
 * @example
 * ```ts
 * for (const e of reachableEntries(state)) console.log(e.path, e.type);
 * ```
 */
export function reachableEntries(model: FileSystemModel): ModelEntry[] {
  const out: ModelEntry[] = [];
  const seen = new Map<string, string>();
  const walk = (id: string, path: string, ancestors: Set<string>) => {
    const inode = model.inodes.get(id);
    if (!inode) return;
    const first = seen.get(id);
    if (first !== undefined && inode.type !== 'dir') {
      out.push({ path, id, type: inode.type, mode: inode.mode, uid: inode.uid, gid: inode.gid, linkTo: first });
      return;
    }
    if (inode.type === 'dir' && (ancestors.has(id) || first !== undefined)) return; // a directory is reachable once
    seen.set(id, path);
    out.push({
      path, id, type: inode.type, mode: inode.mode, uid: inode.uid, gid: inode.gid,
      ...(inode.mtimeMs !== undefined ? { mtimeMs: inode.mtimeMs } : {}),
      ...(inode.data ? { data: inode.data.toString('base64') } : {}),
      ...(inode.target !== undefined ? { target: inode.target } : {}),
    });
    if (inode.entries) {
      const inner = new Set(ancestors).add(id);
      for (const name of [...inode.entries.keys()].sort()) walk(inode.entries.get(name)!, path === '.' ? name : `${path}/${name}`, inner);
    }
  };
  walk(model.rootId, '.', new Set());
  return out;
}
