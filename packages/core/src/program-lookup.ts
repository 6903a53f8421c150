import * as fs from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { judgeTrustedDirectory, judgeTrustedFile } from './private-directory.js';
import { reuseAnswer } from './reuse-answer.js';

/** The search path a child's environment without PATH gets (libuv's, as execvp's). */
const DEFAULT_SEARCH_PATH = '/usr/bin:/bin';

/** What a child searches when no entry of its PATH can be trusted (sudo's secure_path). */
const SECURE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Where {@link findProgram} found a program: the file to execute, or why
 * nothing may be.
 *
 * @example
 * ```ts
 * const found: FoundProgram = findProgram('useradd', '/usr/sbin:/usr/bin', undefined);
 * if ('file' in found) console.log(found.file); // /usr/sbin/useradd
 * ```
 */
export type FoundProgram = { file: string } | { refused: string };

/**
 * The file `runCommand` executes for `program`, found as `execvp` finds it
 * (a name with a `/` is a path, from `cwd`; a bare name is looked up in each
 * entry of `searchPath` in turn, the first executable regular file winning),
 * with two differences, because what a command runs, it runs as root:
 *
 * - an entry that is empty or relative (`::`, `.`, `bin`) names the working
 *   directory, which anyone may own: it is never searched;
 * - a file is run only when no one but root and the running user can change
 *   it: it, every directory above it and every symlink on the way owned by
 *   one of them and not writable by group or others, unless sticky (core's
 *   `assertTrustedFile`, the rule of journal roots and CLI modules). A
 *   bare name found in a directory another user can change is passed over,
 *   and the search goes on; a path is refused.
 *
 * Otherwise `refused` says why: not found, or found only where another user
 * can change it (each place and why).
 *
 * @example
 * ```ts
 * findProgram('useradd', '/home/alice/bin:/usr/sbin', undefined);
 * // { file: '/usr/sbin/useradd' } when alice's copy exists: her directory is passed over
 * ```
 */
export function findProgram(program: string, searchPath: string | undefined, cwd: string | undefined): FoundProgram {
  if (program.includes('/')) {
    const judged = judge(resolve(cwd ?? process.cwd(), program));
    return 'reason' in judged ? { refused: judged.reason } : judged;
  }
  const passedOver: string[] = [];
  for (const entry of (searchPath ?? DEFAULT_SEARCH_PATH).split(':')) {
    if (!isAbsolute(entry)) continue;
    const candidate = join(entry, program);
    if (!isExecutableFile(candidate)) continue;
    const judged = judge(candidate);
    if ('file' in judged) return judged;
    passedOver.push(judged.reason);
  }
  if (passedOver.length > 0) return { refused: `found only where another user can change it: ${passedOver.join('; ')}` };
  return { refused: `not found in PATH (${searchPath ?? DEFAULT_SEARCH_PATH}; empty and relative entries are never searched)` };
}

/** Whether `path` is a regular file this process may execute (following symlinks, as exec does). */
function isExecutableFile(path: string): boolean {
  try {
    // Most entries of a PATH do not hold the program: no exception for those (one costs more than the stat).
    if (!fs.statSync(path, { throwIfNoEntry: false })?.isFile()) return false;
    fs.accessSync(path, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `path` itself (not its real path: every symlink on the way was judged too, so nobody else can redirect it), or why not. */
function judge(path: string): { file: string } | { reason: string } {
  const judged = judgeTrustedFile(path, 'program');
  if ('real' in judged) return { file: path };
  return { reason: 'reason' in judged ? judged.reason : `program ${path} cannot be resolved (${judged.missing})` };
}

/**
 * The PATH a program `runCommand` starts gets (when its environment has
 * one; without, libc's default applies): the entries of `searchPath`
 * that name a directory nobody but root and the running user can change
 * (`judgeTrustedDirectory`: not writable by group or others even when sticky,
 * every directory and symlink above it passing the ancestor rule), in their
 * order. Empty and relative entries (the working directory), missing ones
 * and any other user's are dropped: {@link findProgram} vets the program
 * itself, but what that program then runs by name (a script's helpers, an
 * `env` interpreter) is found in its PATH, as root. When no entry is left,
 * the trusted entries of `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
 * else `/usr/bin:/bin` (never an empty PATH: to libc that is the working directory).
 * The same PATH's judgement is reused for up to 10 s (nobody but root or
 * the running user can make a trusted entry untrusted).
 *
 * @example
 * ```ts
 * trustedSearchPath('/home/alice/bin::/usr/sbin:/usr/bin'); // '/usr/sbin:/usr/bin'
 * ```
 */
export function trustedSearchPath(searchPath: string | undefined): string {
  return judgedSearchPath(searchPath ?? DEFAULT_SEARCH_PATH);
}

/**
 * How long one PATH's judgement is reused: a reconciler runs a command or
 * two per item, and judging every entry (each with its directories up to
 * `/`) cost a third of starting a short command. Sound against every other
 * user: an entry judged trusted can be made untrusted only by root or the
 * running user (it and everything above it are theirs, and nobody else can
 * write there), so the reuse only delays, by at most this long, noticing an
 * administrator's own change.
 */
const JUDGED_PATH_REUSED_MS = 10_000;

const judgedSearchPath = reuseAnswer(JUDGED_PATH_REUSED_MS, judgeSearchPath);

function judgeSearchPath(given: string): string {
  const kept = trustedEntries(given);
  if (kept.length > 0) return kept.join(':');
  const secure = trustedEntries(SECURE_PATH);
  return secure.length > 0 ? secure.join(':') : DEFAULT_SEARCH_PATH;
}

function trustedEntries(searchPath: string): string[] {
  const kept: string[] = [];
  for (const entry of searchPath.split(':')) {
    if (!isAbsolute(entry) || kept.includes(entry)) continue;
    if ('real' in judgeTrustedDirectory(entry, 'PATH entry')) kept.push(entry);
  }
  return kept;
}
