import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CommandFailedError, type CommandResult, type CommandRunner } from '@unwind/core';
import { lookupGroup, lookupUser, uidMin, type UserEntry } from '@unwind/users';
import { inHomeDirectory, readHomeFile } from './home-dir.js';
import { QUADLET_SECTIONS } from './quadlet-file.js';

/**
 * What the reconciler knows about one existing account that matters to it:
 * a member of the managed group, a carrier of the marker, or a name the
 * desired state asks for.
 *
 * @example
 * ```ts
 * const a: Account = { name: 'web', uid: 1001, gid: 1001, home: '/home/web', comment: 'unwind-container', inGroup: true, unitPath: '/home/web/.config/systemd/user/web.service', unitContent: null, quadlet: {}, quadletDir: '/home/web/.config/containers/systemd' };
 * ```
 */
export interface Account {
  name: string;
  uid: number;
  gid: number;
  /** From the user database, never guessed. */
  home: string;
  /** The GECOS field, which holds the ownership marker. */
  comment: string;
  /** Member of the managed group. */
  inGroup: boolean;
  /** Where this account's unit file is (or would be). */
  unitPath: string;
  /** Its bytes, or null when there is no unit file. */
  unitContent: string | null;
  /** The Quadlet files deployed for it (`<name>.container`, `.kube`, `.volume`, `.network`) and their bytes. */
  quadlet: Record<string, string>;
  /** The directory those Quadlet files are in. */
  quadletDir: string;
}

/** How accounts are looked up and judged. */
export interface AccountRules {
  /** A root directory holding etc/passwd, etc/group (shadow tools `-P`); default the machine. */
  prefix?: string;
  /** The managed group: grants nothing, marks membership only. */
  group: string;
  /** The GECOS marker every managed account carries. */
  marker: string;
  /** Names never removed or managed, on top of root and accounts below UID_MIN. */
  deny: readonly string[];
  /** Where a user's unit file lives, from its database entry. */
  unitPathOf: (user: UserEntry, unit: string) => string;
  /** Where a user's Quadlet files live, from its database entry. */
  quadletDirOf: (user: UserEntry) => string;
  exec?: CommandRunner;
}

/**
 * An account is ours only with BOTH the managed group membership AND the
 * GECOS marker. In the reconciler this example answers, one group meant both a privilege and
 * ownership, so adding a human to the group to grant the privilege made the
 * reconciler delete them. Here a human added to the group lacks the marker
 * and is never touched; and the group grants nothing.
 *
 * @example
 * ```ts
 * isOwned({ inGroup: true, comment: 'unwind-container' } as Account, 'unwind-container'); // true
 * isOwned({ inGroup: true, comment: 'Alice Admin' } as Account, 'unwind-container');      // false
 * ```
 */
export function isOwned(account: Pick<Account, 'inGroup' | 'comment'>, marker: string): boolean {
  return account.inGroup && account.comment === marker;
}

/**
 * Why an account must never be removed or managed, or false: root, uid 0,
 * a system account below UID_MIN, or a name on the deny list.
 *
 * @example
 * ```ts
 * protection('root', undefined, { deny: [] }); // 'root'
 * protection('daemon', { uid: 1 }, { deny: [] }); // 'system account: uid 1 is below UID_MIN 1000'
 * ```
 */
export function protection(name: string, account: Pick<Account, 'uid'> | undefined, rules: Pick<AccountRules, 'deny' | 'prefix'>): string | false {
  if (name === 'root') return 'root';
  if (rules.deny.includes(name)) return 'on the deny list';
  if (account && account.uid === 0) return 'uid 0';
  const min = uidMin(rules.prefix);
  if (account && account.uid < min) return `system account: uid ${account.uid} is below UID_MIN ${min}`;
  return false;
}

/** The users of the local passwd file whose GECOS field is the marker. */
function markedNames(prefix: string | undefined, marker: string): string[] {
  let text = '';
  try {
    text = fs.readFileSync(join(prefix ?? '/', 'etc/passwd'), 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 7 && f[4] === marker).map((f) => f[0]!);
}

/**
 * Reads the accounts the reconciler must consider: every member of the
 * managed group, every carrier of the marker, and every desired name that
 * exists (so an existing human account is seen — and refused — rather than
 * adopted). Homes come from the user database. Read-only. The files in a
 * home are read through its safely walked directories, each opened
 * O_NOFOLLOW|O_NONBLOCK: a symlink, a FIFO, a device or a file over 1 MiB
 * is refused (HomeFileRefusedError), never followed, waited on or read whole.
 *
 * @example
 * ```ts
 * const accounts = await readAccounts(['web'], { group: 'unwind-containers', marker: 'unwind-container', deny: [], unitPathOf });
 * ```
 */
export async function readAccounts(desiredNames: readonly string[], rules: AccountRules): Promise<Account[]> {
  const lookup = { ...(rules.prefix ? { prefix: rules.prefix } : {}), ...(rules.exec ? { exec: rules.exec } : {}) };
  const members = (await lookupGroup(rules.group, lookup))?.members ?? [];
  const names = new Set([...members, ...markedNames(rules.prefix, rules.marker), ...desiredNames]);
  const accounts: Account[] = [];
  for (const name of names) {
    const user = await lookupUser(name, lookup);
    if (!user) continue;
    const unitPath = rules.unitPathOf(user, `${name}.service`);
    // The user's home is theirs: never a path followed there as root (see home-dir.ts).
    const home = join(rules.prefix ?? '/', user.home);
    const unitContent = inHomeDirectory(dirname(unitPath), (dir) => (dir ? readHomeFile(dir, basename(unitPath)) : null), home);
    const quadletDir = rules.quadletDirOf(user);
    accounts.push({ name, uid: user.uid, gid: user.gid, home: user.home, comment: user.comment, inGroup: members.includes(name), unitPath, unitContent, quadlet: quadletFilesOf(quadletDir, name, home), quadletDir });
  }
  return accounts;
}

/** The Quadlet files of container `name` in `path` (in `home`): `name` with a Quadlet extension. */
function quadletFilesOf(path: string, name: string, home: string): Record<string, string> {
  const files: Record<string, string> = {};
  inHomeDirectory(path, (dir) => {
    if (!dir) return;
    for (const extension of Object.keys(QUADLET_SECTIONS)) {
      const text = readHomeFile(dir, `${name}${extension}`);
      if (text !== null) files[`${name}${extension}`] = text;
    }
  }, home);
  return files;
}

/**
 * A command runner that answers `getent passwd|group KEY` from a prefix
 * root's files (getent cannot read a prefix) and runs everything else with
 * `inner`. Used when users live in a prefix root, so steps that look users
 * up through getent (systemd's startUserManager) see the prefix's users.
 *
 * @example
 * ```ts
 * const exec = prefixExec('/srv/root', runCommand);
 * ```
 */
export function prefixExec(prefix: string, inner: CommandRunner): CommandRunner {
  return async (spec) => {
    const [program, database, key] = spec.argv;
    if (program !== 'getent' || (database !== 'passwd' && database !== 'group') || key === undefined || spec.argv.length !== 3) return inner(spec);
    const text = fs.readFileSync(join(prefix, 'etc', database), 'utf8');
    const byId = /^\d+$/.test(key);
    const line = text.split('\n').find((l) => {
      const f = l.split(':');
      return byId ? f[2] === key : f[0] === key;
    });
    const result: CommandResult = { argv: spec.argv, exitCode: line ? 0 : 2, signal: null, stdout: line ? `${line}\n` : '', stderr: '', durationMs: 0 };
    if (!(spec.okExitCodes ?? [0]).includes(result.exitCode!)) throw new CommandFailedError(result);
    return result;
  };
}
