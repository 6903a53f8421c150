import type * as ChildProcess from 'node:child_process';
import type * as FileSystem from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { RecorderContext } from './recorder.js';
import { spawnedName } from './spawned-name.js';

const sameInode = (a: FileSystem.Stats | undefined, b: FileSystem.Stats) => a !== undefined && a.dev === b.dev && a.ino === b.ino;

/**
 * Commands (rm, the shadow tools, systemctl) change files from another
 * process, where no wrapper sees them. Their effect on the sandbox is
 * recorded as the difference between the tree before the command started and
 * after it ended: removals deepest first, additions parents first, changed
 * bytes as a rewrite. Their own syncs are not seen, so all of it counts as
 * un-synced until unwind syncs after the command.
 */
export function installCommandRecorder(childProcess: typeof ChildProcess, context: RecorderContext): void {
  const { real, sandbox, emit, idOf, newId } = context;
  const spawn = childProcess.spawn;
  const snapshot = (): Map<string, FileSystem.Stats> => {
    const out = new Map<string, FileSystem.Stats>();
    const walk = (path: string) => {
      const st = real.lstatSync(path);
      out.set(path, st);
      if (st.isDirectory()) for (const name of real.readdirSync(path).sort()) walk(join(path, name));
    };
    walk(sandbox);
    return out;
  };
  const diff = (argv: string, before: Map<string, FileSystem.Stats>, after: Map<string, FileSystem.Stats>) => {
    const call = `command ${argv}`;
    const depth = (path: string) => path.split('/').length;
    const removed = [...before.keys()].filter((p) => !sameInode(after.get(p), before.get(p)!)).sort((a, b) => depth(b) - depth(a));
    for (const path of removed) {
      const st = before.get(path)!;
      const dir = idOf(before.get(dirname(path))!);
      emit({ op: st.isDirectory() ? 'rmdir' : 'unlink', id: idOf(st), dir, name: basename(path), path, call });
    }
    const added = [...after.keys()].filter((p) => !sameInode(before.get(p), after.get(p)!)).sort((a, b) => depth(a) - depth(b));
    for (const path of added) {
      const st = after.get(path)!;
      const dir = idOf(after.get(dirname(path))!);
      const base = { dir, name: basename(path), uid: st.uid, gid: st.gid, path, call };
      if (st.isDirectory()) emit({ op: 'mkdir', id: newId(st), mode: st.mode & 0o7777, ...base });
      else if (st.isSymbolicLink()) emit({ op: 'symlink', id: newId(st), target: real.readlinkSync(path), ...base });
      else {
        const id = newId(st);
        emit({ op: 'create', id, mode: st.mode & 0o7777, ...base });
        const data = real.readFileSync(path);
        if (data.length > 0) emit({ op: 'write', id, offset: 0, data: data.toString('base64'), path, call });
      }
    }
    for (const [path, st] of after) {
      const old = before.get(path);
      if (!old || !sameInode(old, st)) continue;
      const id = idOf(st);
      if (st.isFile() && (old.size !== st.size || old.mtimeMs !== st.mtimeMs)) {
        emit({ op: 'truncate', id, size: 0, path, call });
        const data = real.readFileSync(path);
        if (data.length > 0) emit({ op: 'write', id, offset: 0, data: data.toString('base64'), path, call });
      }
      if ((old.mode & 0o7777) !== (st.mode & 0o7777)) emit({ op: 'chmod', id, mode: st.mode & 0o7777, path, call });
      if (old.uid !== st.uid || old.gid !== st.gid) emit({ op: 'chown', id, uid: st.uid, gid: st.gid, path, call });
    }
  };
  childProcess.spawn = function (this: unknown, ...args: Parameters<typeof spawn>) {
    const before = snapshot();
    const child = (spawn as (...a: unknown[]) => ChildProcess.ChildProcess).apply(this, args);
    const argv = [spawnedName(args), ...(Array.isArray(args[1]) ? args[1] : [])].join(' ');
    child.on('exit', () => diff(argv, before, snapshot()));
    return child;
  } as typeof spawn;
}
