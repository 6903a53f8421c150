import * as fs from 'node:fs';
import { join } from 'node:path';
import { runCommand, type CommandRunner } from '@unwind/core';
import { validateGroupName, validateUserName } from './names.js';
import { inPrefix } from './prefix.js';

/**
 * One passwd entry.
 *
 * @example
 * ```ts
 * const { uid, gid, home, shell } = (await lookupUser('app'))!;
 * ```
 */
export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
  comment: string;
  home: string;
  shell: string;
}

/**
 * One group entry.
 *
 * @example
 * ```ts
 * const { gid, members } = (await lookupGroup('managed'))!;
 * ```
 */
export interface GroupEntry {
  name: string;
  gid: number;
  /** Supplementary members, in file order. */
  members: string[];
}

/**
 * Where to look: the machine (getent) or a prefix root (its files).
 *
 * @example
 * ```ts
 * await lookupUser('alice', { prefix: '/srv/root' });
 * ```
 */
export interface LookupOptions {
  /** A root directory whose etc/passwd and etc/group are read instead of the machine's database. */
  prefix?: string;
  /** Program runner for `getent` (default core's runCommand). */
  exec?: CommandRunner;
  signal?: AbortSignal;
}

/** The database files the shadow tools edit. */
export type DbFile = 'passwd' | 'shadow' | 'group' | 'gshadow' | 'subuid' | 'subgid';

/** Path of a database file under the prefix (or /etc). */
export function dbPath(prefix: string | undefined, file: DbFile): string {
  return prefix ? inPrefix(prefix, `/etc/${file}`) : join('/etc', file);
}

/** Where a home directory lives on disk: the passwd field, under the prefix (and resolving inside it) when one is set. */
export function diskPath(prefix: string | undefined, path: string): string {
  return prefix ? inPrefix(prefix, path) : path;
}

/** Lines of a database file; `[]` when it does not exist. */
export function readLines(path: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** The key of a database line (its first field). */
export function keyOf(line: string): string {
  const i = line.indexOf(':');
  return i < 0 ? line : line.slice(0, i);
}

/**
 * A uid or gid field: digits only, at most 2^32-1; anything else is NaN,
 * which the protection rules treat as protected. Number() would read
 * `1e3`, ` 1001` or `0x3e9` as ids that the shadow tools and NSS do not.
 *
 * @example
 * ```ts
 * parseId('1001'); // 1001
 * parseId('1e3');  // NaN
 * ```
 */
export function parseId(field: string | undefined): number {
  if (field === undefined || !/^[0-9]{1,10}$/.test(field)) return Number.NaN;
  const n = Number(field);
  return n <= 4294967295 ? n : Number.NaN;
}

function parseUser(line: string): UserEntry | undefined {
  const f = line.split(':');
  if (f.length < 7) return undefined;
  return { name: f[0]!, uid: parseId(f[2]), gid: parseId(f[3]), comment: f[4]!, home: f[5]!, shell: f[6]! };
}

function parseGroup(line: string): GroupEntry | undefined {
  const f = line.split(':');
  if (f.length < 4) return undefined;
  return { name: f[0]!, gid: parseId(f[2]), members: f[3] ? f[3].split(',').filter(Boolean) : [] };
}

/** Every user of a prefix root's (or the machine's local) passwd file. */
export function localUsers(prefix: string | undefined): UserEntry[] {
  return readLines(dbPath(prefix, 'passwd')).map(parseUser).filter((u): u is UserEntry => u !== undefined);
}

/** Every group of a prefix root's (or the machine's local) group file. */
export function localGroups(prefix: string | undefined): GroupEntry[] {
  return readLines(dbPath(prefix, 'group')).map(parseGroup).filter((g): g is GroupEntry => g !== undefined);
}

async function getent(database: 'passwd' | 'group', key: string, options: LookupOptions): Promise<string | undefined> {
  const exec = options.exec ?? runCommand;
  // getent exits 2 when the key is not found.
  const result = await exec({ argv: ['getent', database, key], okExitCodes: [0, 2], timeoutMs: 15_000, ...(options.signal ? { signal: options.signal } : {}) });
  if (result.exitCode === 2) return undefined;
  return result.stdout.split('\n')[0];
}

/**
 * Looks a user up: through the user database (`getent passwd`), or, with a
 * prefix, in PREFIX/etc/passwd (getent does not read a prefix).
 *
 * @example
 * ```ts
 * const app = await lookupUser('app');
 * if (app) console.log(app.uid, app.home);
 * ```
 */
export async function lookupUser(name: string, options: LookupOptions = {}): Promise<UserEntry | undefined> {
  validateUserName(name);
  if (options.prefix) return localUsers(options.prefix).find((u) => u.name === name);
  const line = await getent('passwd', name, options);
  return line ? parseUser(line) : undefined;
}

/**
 * Looks a user up by uid (getent, or the prefix's passwd file).
 *
 * @example
 * ```ts
 * const owner = await lookupUid(1001);
 * ```
 */
export async function lookupUid(uid: number, options: LookupOptions = {}): Promise<UserEntry | undefined> {
  if (options.prefix) return localUsers(options.prefix).find((u) => u.uid === uid);
  const line = await getent('passwd', String(uid), options);
  return line ? parseUser(line) : undefined;
}

/**
 * Looks a group up: `getent group NAME`, or PREFIX/etc/group with a prefix.
 *
 * @example
 * ```ts
 * const managed = await lookupGroup('managed', { prefix: '/srv/root' });
 * ```
 */
export async function lookupGroup(name: string, options: LookupOptions = {}): Promise<GroupEntry | undefined> {
  validateGroupName(name);
  if (options.prefix) return localGroups(options.prefix).find((g) => g.name === name);
  const line = await getent('group', name, options);
  return line ? parseGroup(line) : undefined;
}

/**
 * Looks a group up by gid.
 *
 * @example
 * ```ts
 * const primary = await lookupGid(user.gid);
 * ```
 */
export async function lookupGid(gid: number, options: LookupOptions = {}): Promise<GroupEntry | undefined> {
  if (options.prefix) return localGroups(options.prefix).find((g) => g.gid === gid);
  const line = await getent('group', String(gid), options);
  return line ? parseGroup(line) : undefined;
}

/**
 * The supplementary members of a group (the member list of its entry), or
 * `undefined` when the group does not exist.
 *
 * @example
 * ```ts
 * (await groupMembers('managed'))?.includes('app');
 * ```
 */
export async function groupMembers(group: string, options: LookupOptions = {}): Promise<string[] | undefined> {
  return (await lookupGroup(group, options))?.members;
}

/**
 * The groups of the local group file (under the prefix, or /etc) that list
 * the user as a supplementary member: the ones the shadow tools edit.
 *
 * @example
 * ```ts
 * supplementaryGroups('alice', '/srv/root'); // ['managed', 'users']
 * ```
 */
export function supplementaryGroups(user: string, prefix: string | undefined): string[] {
  return localGroups(prefix).filter((g) => g.members.includes(user)).map((g) => g.name);
}

/**
 * Settings of login.defs (PREFIX/etc/login.defs with a prefix).
 *
 * @example
 * ```ts
 * loginDefs('/srv/root').UID_MIN; // '1000'
 * ```
 */
export function loginDefs(prefix: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readLines(prefix ? inPrefix(prefix, '/etc/login.defs') : '/etc/login.defs')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s+(\S+)/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * A number of login.defs as the shadow tools read it (`getulong`: `strtoul`
 * in base 0, the whole value, no sign): decimal, hexadecimal after `0x`,
 * octal after a leading `0`. Anything else is `fallback`, the shadow tools'
 * default for that key, as they use it: `Number()` read `010` as 10 where
 * useradd reads 8, and `1e3` as 1000 where useradd falls back.
 *
 * @example
 * ```ts
 * loginDefsNumber('0x3e8', 1000); // 1000
 * loginDefsNumber('010', 1000);   // 8
 * loginDefsNumber('1e3', 1000);   // 1000, the fallback
 * ```
 */
export function loginDefsNumber(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const m = /^\+?(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(value);
  if (!m) return fallback;
  const n = m[1] !== undefined ? Number.parseInt(m[1], 16) : m[2] !== undefined ? Number.parseInt(m[2], 8) : Number(m[3]);
  return Number.isSafeInteger(n) && n <= 4294967295 ? n : fallback;
}

/**
 * UID_MIN from login.defs (1000 when unset); accounts below it are protected.
 *
 * @example
 * ```ts
 * uidMin('/srv/root'); // 1000
 * ```
 */
export function uidMin(prefix: string | undefined): number {
  const value = loginDefsNumber(loginDefs(prefix).UID_MIN, 1000);
  return value > 0 ? value : 1000;
}

/**
 * Every account: the prefix's passwd file, or the whole user database
 * (`getent passwd`, NSS included) on the machine. Read-only.
 *
 * @example
 * ```ts
 * const homes = (await allUsers({ prefix: '/srv/root' })).map((u) => u.home);
 * ```
 */
export async function allUsers(options: LookupOptions = {}): Promise<UserEntry[]> {
  if (options.prefix) return localUsers(options.prefix);
  const exec = options.exec ?? runCommand;
  const result = await exec({ argv: ['getent', 'passwd'], okExitCodes: [0, 2], timeoutMs: 30_000, ...(options.signal ? { signal: options.signal } : {}) });
  return result.stdout.split('\n').map(parseUser).filter((u): u is UserEntry => u !== undefined);
}
