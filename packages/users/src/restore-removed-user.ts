import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { renameDurably, syncDirectory, UndoConflictError, UntrustedJournalError, VerificationError, writeNewFileDurably, type StepContext } from '@unwind/core';
import { entryExists, lookupIn } from './common.js';
import { dbPath, diskPath, keyOf, lookupUser, parseId, readLines, type DbFile } from './db.js';
import { lockedGroups } from './membership.js';
import { tellsLogind } from './logind-linger.js';
import { assertLingerDirectory } from './linger-file.js';
import { ProtectedUserError } from './errors.js';
import { editDatabase, tidyKilledTool } from './edit.js';
import { GROUP_MEMBERS, GSHADOW_ADMINS, GSHADOW_MEMBERS, listAt, withMember } from './fields.js';
import { checkHomePath } from './home.js';
import { applyCaptured, type CapturedLines } from './lines.js';
import { lockedPrimaryGid } from './joinable.js';
import { validateField, validatePasswdField } from './names.js';
import { groupProtection, membershipProtection, userProtection } from './protect.js';
import type { RemoveUserArgs, RemoveUserBefore } from './remove-user.js';
import { overlappingRange, parseSubordinateRange, subordinateRangeProblem } from './subordinate-ids.js';

const STAGED = 'home';
const OWN_FILES = ['passwd', 'shadow', 'subuid', 'subgid'] as const;

/**
 * Recovery's check of a journaled removeUser: the account it would bring
 * back is the one named in the arguments and not a protected one (so no
 * journal can make recovery create a uid-0 account), every captured line is
 * of the key it claims, the same-named group it would put back is not a
 * protected group, the home and staging paths are the kind's own (below the
 * home base, `.unwind-home-NAME-<hex>` beside the home) and the linger file
 * is the step's, with plain permissions.
 */
export function validateRemovedUserJournal(a: RemoveUserArgs, before: RemoveUserBefore, expected: { homeBase: string; lingerPath: string; staging: RegExp }): void {
  const bad = (why: string) => new UntrustedJournalError(`users.removeUser "${a.name}": ${why}`, { name: a.name });
  const user = before.user;
  if (before.existed !== (user !== null)) throw bad('existed and the journaled account disagree');
  if (user) {
    if (user.name !== a.name) throw bad(`the journaled account is "${user.name}"`);
    const reason = userProtection(user, a);
    if (reason) throw bad(`the journaled account is protected (${reason})`);
    for (const field of ['home', 'shell'] as const) validateField(user[field], `journaled ${field}`);
    // The account's own comment: its user may have set one starting with '-' (chfn allows it); the undo writes it back as a field.
    validatePasswdField(user.comment, 'journaled comment');
    const primaryLocked = lockedPrimaryGid(user.gid, a) ?? (before.primaryGroup ? membershipProtection(before.primaryGroup, a) : undefined);
    if (primaryLocked) throw bad(`it would bring "${a.name}" back with primary gid ${user.gid} (${primaryLocked}), a group unwind never gives a member`);
    if (user.home.split('/').includes('..')) throw bad(`the journaled home ${user.home} has a ".." segment`);
  }
  const locked = lockedGroups(a);
  for (const c of before.lines) {
    if ((c.file === 'group' || c.file === 'gshadow') && locked.has(c.key) && c.lines.some((l) => l.split(':').slice(2).some((f) => f.split(',').includes(a.name)))) {
      throw bad(`it would put "${a.name}" back into the ${c.key} group, which unwind never changes`);
    }
  }
  if (before.primaryGroup && user && before.primaryGroup.gid !== user.gid) throw bad('the journaled primary group is not the account\'s');
  for (const c of before.lines) {
    if (c.lines.some((l) => keyOf(l) !== c.key || /[\n\r\0]/.test(l))) throw bad(`a captured ${c.file} line is not of "${c.key}"`);
    if ((OWN_FILES as readonly string[]).includes(c.file) && c.key !== a.name) throw bad(`it captured ${c.file} lines of "${c.key}"`);
    if (c.file === 'subuid' || c.file === 'subgid') {
      for (const line of c.lines) {
        const problem = subordinateRangeProblem(line);
        if (problem) throw bad(`the ${c.file} range it would put back, ${JSON.stringify(line)}, is refused: ${problem}`);
      }
    }
    if (c.file === 'passwd' && c.lines.length > 0) {
      const f = c.lines[0]!.split(':');
      if (!user || c.lines.length !== 1 || parseId(f[2]) !== user.uid || parseId(f[3]) !== user.gid || f[4] !== user.comment || f[5] !== user.home || f[6] !== user.shell) throw bad('the captured passwd line is not the journaled account');
    }
    if (c.file === 'group' && c.key === a.name && c.lines.length > 0) {
      const gid = parseId(c.lines[0]!.split(':')[2]);
      if (before.primaryGroup?.name !== a.name || before.primaryGroup.gid !== gid) throw bad('the captured group of the user\'s name is not its primary group');
      const reason = groupProtection({ name: a.name, gid }, a);
      if (reason) throw bad(`the group it would put back is protected (${reason})`);
    }
  }
  if (before.home) {
    if (!user) throw bad('a staged home without an account');
    if (before.home.path !== diskPath(a.prefix, user.home)) throw bad(`the home path ${before.home.path} is not the account's home`);
    checkHomePath(a.name, user.home, expected.homeBase);
    const m = expected.staging.exec(basename(before.home.staging));
    if (!m || m[1] !== a.name || dirname(before.home.staging) !== dirname(before.home.path)) throw bad(`${before.home.staging} is not this kind's staging directory beside the home`);
  }
  if (before.linger.path !== expected.lingerPath) throw bad(`the linger file ${before.linger.path} is not the step's (${expected.lingerPath})`);
  const linger = before.linger.existed;
  if (linger && ((linger.mode & ~0o777) !== 0 || (linger.uid !== 0 && linger.uid !== user?.uid))) throw bad('the linger file it would create has set-id bits or a stranger\'s owner');
}

/** Per database file, the edit that puts back what the step removed; it throws UndoConflictError on what it must not touch. */
type Edit = (lines: string[]) => string[] | undefined;

function ownLines(before: RemoveUserBefore, file: DbFile, key: string): CapturedLines | undefined {
  return before.lines.find((c) => c.file === file && c.key === key && c.lines.length > 0);
}

/** Inserts a captured entry where no entry of its key is; the same lines there already are fine; other lines are a conflict. */
function insertEntry(c: CapturedLines, subject: string, extra?: (lines: string[]) => void): Edit {
  return (lines) => {
    const now = lines.filter((l) => keyOf(l) === c.key);
    if (now.length === 0) {
      extra?.(lines);
      return applyCaptured(lines, [c]);
    }
    if (now.join('\n') === c.lines.join('\n')) return undefined;
    throw new UndoConflictError(subject, 'no entry (removed by this step)', `an entry "${now[0]}"`, { key: c.key });
  };
}

/** Puts the user's name back into the lists of `fields` of a group's line, where the captured line had it. */
function membershipEdit(a: RemoveUserArgs, c: CapturedLines, fields: number[], locked: Set<string>): Edit | undefined {
  const old = c.lines[0];
  if (old === undefined) return undefined;
  const places = fields.map((index) => ({ index, position: listAt(old, index).indexOf(a.name) })).filter((p) => p.position >= 0);
  if (places.length === 0) return undefined;
  return (lines) => {
    const line = lines.find((l) => keyOf(l) === c.key);
    if (line === undefined) throw new UndoConflictError(`group "${c.key}"`, `the group "${a.name}" was a member of`, 'no such group', { name: a.name, group: c.key });
    const next = places.reduce((l, p) => withMember(l, p.index, a.name, p.position), line);
    if (next === line) return undefined;
    if (locked.has(c.key)) throw new ProtectedUserError(c.key, 'gid 0, privileged or on the deny list: unwind puts no member back into it', { group: true });
    return lines.map((l) => (l === line ? next : l));
  };
}

/**
 * The undo of removeUser, field-level: when the account is gone, its own
 * entries (passwd last, so "passwd is back" means everything is), the
 * same-named group userdel deleted with it, and the user's name in each
 * group list it was in — only those names, so other members an admin
 * added or revoked meanwhile stay as they are. Every conflict is found
 * before anything is written. Then the home and the linger file.
 */
export async function restoreRemovedUser(a: RemoveUserArgs, before: RemoveUserBefore, ctx: StepContext): Promise<void> {
  const old = before.user;
  if (old) {
    const present = readLines(dbPath(a.prefix, 'passwd')).find((l) => keyOf(l) === a.name);
    if (present !== undefined && parseId(present.split(':')[2]) !== old.uid) {
      throw new UndoConflictError(`user "${a.name}"`, `no account (the one with uid ${old.uid} was removed)`, `an account with uid ${present.split(':')[2]}`, { name: a.name });
    }
    // Present with its uid: userdel never ran, or this undo already finished (passwd is written last).
    if (present === undefined) await putBackEntries(a, before, old.uid, ctx.signal);
  }
  restoreHome(a, before);
  await restoreLinger(a, before, ctx);
  // Also what an undo cut off by a power cut after its last edit leaves: that edit's lock and pid file.
  await tidyKilledTool(a.prefix, ctx.signal);
}

async function putBackEntries(a: RemoveUserArgs, before: RemoveUserBefore, uid: number, signal: AbortSignal): Promise<void> {
  const edits: Array<[DbFile, Edit]> = [];
  const shadow = ownLines(before, 'shadow', a.name);
  if (shadow) edits.push(['shadow', insertEntry(shadow, `shadow entry of "${a.name}"`)]);
  for (const file of ['subuid', 'subgid'] as const) {
    const c = ownLines(before, file, a.name);
    // A range given to another account since (the lowest free one goes to the next useradd) is theirs now.
    if (c) edits.push([file, insertEntry(c, `${file} range of "${a.name}"`, (lines) => {
      for (const line of c.lines) {
        const range = parseSubordinateRange(line);
        const holder = range && overlappingRange(range, lines);
        if (holder) throw new UndoConflictError(`${file} range ${line}`, `free (the removed "${a.name}" had it)`, `overlapping ${JSON.stringify(holder)}`, { name: a.name, file });
      }
    })]);
  }
  const ownGroup = before.primaryGroup?.name === a.name ? ownLines(before, 'group', a.name) : undefined;
  if (ownGroup) {
    const gid = parseId(ownGroup.lines[0]!.split(':')[2]);
    edits.push(['group', insertEntry(ownGroup, `group "${a.name}"`, (lines) => {
      const holder = lines.find((l) => parseId(l.split(':')[2]) === gid);
      if (holder) throw new UndoConflictError(`gid ${gid}`, `free (the group "${a.name}" had it)`, `taken by group "${keyOf(holder)}"`, { name: a.name, gid });
    })]);
    const shadowed = ownLines(before, 'gshadow', a.name);
    if (shadowed) edits.push(['gshadow', insertEntry(shadowed, `gshadow entry of "${a.name}"`)]);
  }
  // Never into gid 0, privileged or deny-listed groups: removeUser refuses members of those up front, so only a forged journal asks.
  const locked = lockedGroups(a);
  for (const c of before.lines) {
    if (c.key === ownGroup?.key) continue;
    const edit = c.file === 'group' ? membershipEdit(a, c, [GROUP_MEMBERS], locked) : c.file === 'gshadow' ? membershipEdit(a, c, [GSHADOW_ADMINS, GSHADOW_MEMBERS], locked) : undefined;
    if (edit) edits.push([c.file, edit]);
  }
  const passwd = ownLines(before, 'passwd', a.name);
  if (passwd) {
    edits.push(['passwd', insertEntry(passwd, `user "${a.name}"`, (lines) => {
      const holder = lines.find((l) => parseId(l.split(':')[2]) === uid);
      if (holder) throw new UndoConflictError(`uid ${uid}`, `free (the removed "${a.name}" had it)`, `taken by "${keyOf(holder)}"`, { name: a.name, uid });
    })]);
  }
  // Every conflict first, with nothing written yet.
  const files = new Map<DbFile, string[]>();
  for (const [file, edit] of edits) {
    if (!files.has(file)) files.set(file, readLines(dbPath(a.prefix, file)));
    files.set(file, edit(files.get(file)!) ?? files.get(file)!);
  }
  for (const [file, edit] of edits) await editDatabase(a.prefix, file, edit, signal);
}

function restoreHome(a: RemoveUserArgs, before: RemoveUserBefore): void {
  if (!before.home || !before.user) return;
  const { path, staging } = before.home;
  const staged = join(staging, STAGED);
  if (entryExists(staged)) {
    if (entryExists(path)) throw new UndoConflictError(`home ${path}`, 'nothing there (the home is staged aside)', 'a new entry', { name: a.name, staged });
    const st = fs.lstatSync(staged);
    if (!st.isDirectory() || st.uid !== before.user.uid) throw new UndoConflictError(`staged home ${staged}`, `a directory of uid ${before.user.uid}`, `uid ${st.uid}`, { name: a.name });
    renameDurably(staged, path);
  }
  try {
    fs.rmdirSync(staging);
    syncDirectory(dirname(staging));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  }
}

/**
 * The linger file back — and logind told. logind reads its linger directory
 * only at boot: a file put back alone leaves the user's manager, which the
 * step stopped, down until the next boot, and logind saying the user does not
 * linger. Where logind said at prepare that the user lingered, `loginctl
 * enable-linger` (idempotent) makes logind take the user in again and start
 * its manager: also when the file never went, because the step was cut off
 * after it had stopped the manager.
 */
async function restoreLinger(a: RemoveUserArgs, before: RemoveUserBefore, ctx: StepContext): Promise<void> {
  const linger = before.linger.existed;
  if (!linger) return;
  if (!entryExists(before.linger.path)) {
    assertLingerDirectory(before.linger.path);
    writeNewFileDurably(before.linger.path, '', linger.mode);
    fs.lchownSync(before.linger.path, linger.uid, linger.gid);
    fs.chmodSync(before.linger.path, linger.mode);
  }
  if (before.user && before.linger.logind === true && tellsLogind(a, before.linger.path)) {
    const timeoutMs = a.commandTimeoutMs ?? 30_000;
    // While logind is still dropping the user the step stopped (state "closing"), an enable-linger is
    // taken and then lost with the user: the manager never starts. Wait (bounded) until logind is done.
    const until = Date.now() + timeoutMs;
    while (Date.now() < until && !ctx.signal.aborted) {
      const state = await ctx.exec({ argv: ['loginctl', 'show-user', '-p', 'State', '--value', a.name], okExitCodes: [0, 1], signal: ctx.signal, timeoutMs });
      if (state.exitCode !== 0 || state.stdout.trim() !== 'closing') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await ctx.exec({ argv: ['loginctl', 'enable-linger', a.name], signal: ctx.signal, timeoutMs });
  }
}

/** The verifyUndo of removeUser: the account with its uid, its memberships, home and linger file are back. */
export async function verifyRemovedUserBack(a: RemoveUserArgs, before: RemoveUserBefore, ctx: StepContext): Promise<void> {
  const old = before.user;
  if (old) {
    const user = await lookupUser(a.name, lookupIn(a, ctx));
    if (!user || user.uid !== old.uid) throw new VerificationError(`user "${a.name}" is not back with uid ${old.uid}`, { name: a.name });
    for (const c of before.lines) {
      if ((c.file !== 'group' && c.file !== 'gshadow') || c.key === a.name || c.lines.length === 0) continue;
      const fields = c.file === 'group' ? [GROUP_MEMBERS] : [GSHADOW_ADMINS, GSHADOW_MEMBERS];
      const now = readLines(dbPath(a.prefix, c.file)).find((l) => keyOf(l) === c.key);
      for (const index of fields) {
        if (listAt(c.lines[0]!, index).includes(a.name) && !(now && listAt(now, index).includes(a.name))) {
          throw new VerificationError(`${c.file} entry of "${c.key}" does not list "${a.name}" again`, { name: a.name, group: c.key });
        }
      }
    }
  }
  if (before.home && !entryExists(before.home.path)) throw new VerificationError(`home ${before.home.path} is not back`, { path: before.home.path });
  if (before.linger.existed && !entryExists(before.linger.path)) throw new VerificationError(`linger file ${before.linger.path} is not back`, { path: before.linger.path });
}
