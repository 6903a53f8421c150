import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as t from 'io-ts';
import { defineStep, InvalidInputError, removeTemporaryFiles, symlinkAtomically, syncDirectory, UndoConflictError, UntrustedJournalError, validateAbsolutePath, VerificationError, writeFileAtomically, type StepContext } from '@unwind/core';
import { unitTemporaryPrefix } from '../unit-temp.js';
import { guardsUnitDir, resolveUnitDir, systemctl } from '../manager.js';
import { TRANSIENT_BUS_RETRY } from '../transient.js';
import { validateUnitContent } from '../names.js';
import { showUnit } from '../state.js';
import { createMissingDirs, inUnitDirectory, openUnitDirectory, removeMissingDirs, snapshotDirs, type UnitDirHandle } from '../unitdir.js';
import { checkJournaledUnitDir, describeUnit, runnerOf, UnitArgs, validateUnitArgs } from './common.js';

const BLOB = 'previous-unit-file';

const InstallArgs = t.intersection([
  UnitArgs,
  t.type({ content: t.string }),
  t.partial({
    /** File mode. Default 0644. */
    mode: t.number,
    /** Run `daemon-reload` after writing and after undoing. Default true. */
    reload: t.boolean,
  }),
]);

const Previous = t.union([
  t.type({ kind: t.literal('absent') }),
  t.type({ kind: t.literal('file'), mode: t.number, uid: t.number, gid: t.number, sha256: t.string }),
  t.type({ kind: t.literal('symlink'), target: t.string }),
]);
type Previous = t.TypeOf<typeof Previous>;
type InstallArgs = t.TypeOf<typeof InstallArgs>;

const InstallBefore = t.intersection([
  t.type({
    path: t.string,
    /** Directories that did not exist (the unit directory and parents), deepest first. */
    missing: t.array(t.string),
    previous: Previous,
  }),
  t.partial({ owner: t.type({ uid: t.number, gid: t.number }) }),
]);
type InstallBefore = t.TypeOf<typeof InstallBefore>;

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/**
 * What is at `entry` (a name in the open unit directory), never following a
 * symlink: a link is read as a link, a file is read from the descriptor of
 * what was lstat'ed, so a file swapped for a link to another (/etc/shadow)
 * in between is refused, not copied into the journal to be restored later
 * as a file of the user's. `shown` is the path for messages.
 */
function readPrevious(entry: string, shown: string): { previous: Previous; bytes?: Buffer } {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(entry);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { previous: { kind: 'absent' } };
    throw error;
  }
  // A masked unit is a link to /dev/null; keep the link itself, never follow it.
  if (st.isSymbolicLink()) return { previous: { kind: 'symlink', target: fs.readlinkSync(entry) } };
  if (!st.isFile()) throw new InvalidInputError(`${shown} exists and is not a regular file or symlink`, { path: shown });
  const bytes = readRegularFile(entry, shown, st);
  // Without set-id and sticky bits: meaningless on a unit file, never put back by root on a file another
  // user may own (its user can set them on their own file), and a journal holding them is refused.
  return { previous: { kind: 'file', mode: st.mode & 0o777, uid: st.uid, gid: st.gid, sha256: sha256(bytes) }, bytes };
}

/** The bytes of the regular file at `entry`, opened O_NOFOLLOW (O_NONBLOCK: a FIFO put there never blocks); it must still be `seen`. */
function readRegularFile(entry: string, shown: string, seen?: fs.Stats): Buffer {
  const fd = fs.openSync(entry, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || (seen && (st.ino !== seen.ino || st.dev !== seen.dev))) throw new InvalidInputError(`${shown} changed while it was read (it is not the regular file looked at)`, { path: shown });
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The unit file's bytes, or undefined when there is none. In a user's tree
 * (see unitdir.ts) read through the open unit directory, never through a
 * link; the system unit directory is read by path, as it always was.
 */
function readUnitFile(a: InstallArgs, path: string): Buffer | undefined {
  const guarded = guardsUnitDir(a);
  return inUnitDirectory(dirname(path), guarded, (dir) => {
    if (!dir) return undefined;
    try {
      return guarded ? readRegularFile(dir.entry(a.unit), path) : fs.readFileSync(path);
    } catch {
      return undefined;
    }
  });
}

async function reload(a: InstallArgs, ctx: StepContext): Promise<void> {
  if (a.reload !== false) await systemctl(a, runnerOf(ctx), ['daemon-reload']);
}

/**
 * Installs a unit file atomically (temp file with O_EXCL in the unit
 * directory, fsync, rename, fsync the directory) and runs `daemon-reload`
 * (unless `reload: false`). The unit directory defaults to
 * /etc/systemd/system, or `<home>/.config/systemd/user` with the home from
 * the user database; missing directories are created (owned by the user for
 * another user's scope). The previous file is kept in the journal's blobs;
 * undo puts back the exact bytes, mode and owner (or the mask symlink, or
 * nothing), removes directories it created, and reloads. Verify reads the
 * bytes back and asks systemd whether the unit loaded.
 *
 * `do` is safe to repeat (the same bytes written again, then a reload), so a
 * transient bus error of its reload is tried again by default, with
 * daemonReload's policy: up to 4 more times with backoff; any other failure
 * fails the step at once. A step's own `retry.do` option replaces this.
 *
 * @example
 * ```ts
 * tx.add(installUnit({ unit: 'app.service', content: '[Unit]\nDescription=App\n[Service]\nExecStart=/usr/bin/app\n' }));
 * tx.add(installUnit({ unit: 'sync.service', scope: { user: 'alice' }, content }));
 * ```
 */
export const installUnit = defineStep({
  type: 'systemd.installUnit',
  package: '@unwind/systemd',
  args: InstallArgs,
  before: InstallBefore,
  after: t.type({ sha256: t.string }),
  validate: (a) => {
    validateUnitArgs('file')(a);
    validateUnitContent(a.content, a.unit);
    if (a.mode !== undefined && !(Number.isInteger(a.mode) && a.mode >= 0 && a.mode <= 0o7777)) throw new InvalidInputError(`mode ${a.mode} is not a file mode`, { mode: a.mode });
  },
  describe: (a) => describeUnit('install unit file', a),
  retry: { do: TRANSIENT_BUS_RETRY },
  prepare: async (a, ctx) => {
    const { unitDir, owner } = await resolveUnitDir(a, runnerOf(ctx));
    const guarded = guardsUnitDir(a);
    const path = join(unitDir, a.unit);
    // First: a symlink or a foreign directory on the way is refused here, before anything is read or written.
    const { missing } = snapshotDirs(unitDir, guarded);
    const { previous, bytes } = inUnitDirectory(unitDir, guarded, (dir): ReturnType<typeof readPrevious> => (dir ? readPrevious(dir.entry(a.unit), path) : { previous: { kind: 'absent' } }));
    if (bytes && !(await ctx.blobs.has(BLOB))) await ctx.blobs.write(BLOB, bytes);
    return { path, missing, previous, ...(owner ? { owner } : {}) };
  },
  wouldChange: async (a, ctx) => {
    const { unitDir } = await resolveUnitDir(a, runnerOf(ctx));
    return !readUnitFile(a, join(unitDir, a.unit))?.equals(Buffer.from(a.content));
  },
  do: async (a, before, ctx) => {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    // The temp file, its owner and mode, the rename and the syncs all go through the open unit directory.
    const dir = createMissingDirs(dirname(before.path), before.missing, before.owner, guardsUnitDir(a));
    try {
      writeFileAtomically(dir.entry(a.unit), a.content, { mode: a.mode ?? 0o644, ...before.owner, temporaryPrefix: unitTemporaryPrefix(before.path) });
    } finally {
      dir.close();
    }
    await reload(a, ctx);
    return { sha256: sha256(a.content) };
  },
  verify: async (a, before, _after, ctx) => {
    const bytes = readUnitFile(a, before.path);
    if (!bytes?.equals(Buffer.from(a.content))) throw new VerificationError(`${before.path} does not hold the unit file written`, { path: before.path });
    if (a.reload === false) return;
    const p = await showUnit(a.unit, ['LoadState', 'NeedDaemonReload', 'FragmentPath', 'LoadError'], a, runnerOf(ctx));
    // not-found: this manager does not read the directory written to (wrong unitDir or scope).
    if (p.LoadState !== 'loaded' && p.LoadState !== 'masked') throw new VerificationError(`unit ${a.unit} did not load after daemon-reload: LoadState=${p.LoadState} ${p.LoadError ?? ''}`.trim(), { unit: a.unit, path: before.path, ...p });
    if (p.NeedDaemonReload === 'yes') throw new VerificationError(`unit ${a.unit} still needs a daemon-reload`, { unit: a.unit, ...p });
  },
  validateJournaled: (a, before, after) => {
    const bad = (why: string) => new UntrustedJournalError(`systemd.installUnit ${a.unit}: ${why}`, { unit: a.unit, path: before.path });
    validateAbsolutePath(before.path, { what: 'journaled unit file path' });
    if (basename(before.path) !== a.unit) throw bad(`the journaled path ${before.path} is not a file named ${a.unit}`);
    checkJournaledUnitDir(a, dirname(before.path), before.missing, bad);
    if (before.previous.kind === 'file' && (before.previous.mode & ~0o777) !== 0) throw bad('the previous file it would restore has set-id or sticky bits');
    if (before.owner && typeof (a.scope ?? 'system') !== 'object') throw bad('an owner for files it creates, outside another user\'s scope');
    if (after && after.sha256 !== sha256(a.content)) throw bad('the after-state is not the hash of the content it was given');
  },
  undo: async (a, before, _after, ctx) => {
    const guarded = guardsUnitDir(a);
    const dir = openUnitDirectory(dirname(before.path), guarded);
    try {
      if (dir) removeTemporaryFiles(dir.entry(a.unit), unitTemporaryPrefix(before.path));
      await restorePrevious(a, before, ctx, dir);
    } finally {
      dir?.close();
    }
    removeMissingDirs(before.missing, guarded);
    await reload(a, ctx);
  },
});

function samePrevious(a: Previous, b: Previous): boolean {
  if (a.kind === 'absent' || b.kind === 'absent') return a.kind === b.kind;
  if (a.kind === 'symlink' || b.kind === 'symlink') return a.kind === 'symlink' && b.kind === 'symlink' && a.target === b.target;
  return a.sha256 === b.sha256 && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}

function describePrevious(p: Previous): string {
  return p.kind === 'absent' ? 'no file' : p.kind === 'symlink' ? `a symlink to ${p.target}` : `a file with sha256 ${p.sha256}`;
}

/**
 * Compare-and-swap: the unit file is put back only while it still is what
 * this step wrote (or already is the previous state). Anything else — an
 * admin's edit, a file another transaction wrote since — is an
 * UndoConflictError naming the path and both states; nothing is touched.
 */
async function restorePrevious(a: { unit: string; content: string }, before: InstallBefore, ctx: StepContext, dir: UnitDirHandle | undefined): Promise<void> {
  const { path, previous } = before;
  const wrote = sha256(a.content);
  let current: ReturnType<typeof readPrevious>;
  try {
    current = dir ? readPrevious(dir.entry(a.unit), path) : { previous: { kind: 'absent' } };
  } catch {
    throw new UndoConflictError(path, `the unit file this step wrote (sha256 ${wrote})`, 'something that is not a regular file or symlink', { path });
  }
  if (samePrevious(current.previous, previous)) return;
  if (!dir || !(current.previous.kind === 'file' && current.previous.sha256 === wrote)) {
    throw new UndoConflictError(path, `the unit file this step wrote (sha256 ${wrote})`, describePrevious(current.previous), { path });
  }
  const entry = dir.entry(a.unit);
  if (previous.kind === 'absent') {
    fs.rmSync(entry, { force: true });
    syncDirectory(dir.self);
    return;
  }
  if (previous.kind === 'symlink') {
    symlinkAtomically(previous.target, entry, { temporaryPrefix: unitTemporaryPrefix(path) });
    return;
  }
  const bytes = await ctx.blobs.read(BLOB);
  writeFileAtomically(entry, bytes, { mode: previous.mode, uid: previous.uid, gid: previous.gid, temporaryPrefix: unitTemporaryPrefix(path) });
}
