import * as fs from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import * as t from 'io-ts';
import { assertPrivateDirectory, defaultEnv, programFor, runningUid, InvalidInputError, validateTimerMs, validateAbsolutePath, validateName, type CommandResult, type CommandRunner } from '@unwind/core';
import { UserNotFoundError } from './errors.js';

/**
 * Which service manager: the system manager, the own user's manager
 * (`systemctl --user`), or another user's (`systemctl --user --machine=NAME@`).
 *
 * @example
 * ```ts
 * start({ unit: 'app.service' });                              // system
 * start({ unit: 'sync.service', scope: 'user' });              // this user's manager
 * start({ unit: 'sync.service', scope: { user: 'alice' } });   // alice's manager
 * ```
 */
export const Scope = t.union([t.literal('system'), t.literal('user'), t.type({ user: t.string })]);
/** See {@link Scope}. @example `const s: Scope = { user: 'alice' };` */
export type Scope = t.TypeOf<typeof Scope>;

/**
 * How to reach the manager, shared by every step kind and probe. Journaled
 * with the step's arguments, so a later `recover` reaches the same manager.
 *
 * @example
 * ```ts
 * const m: ManagerOptions = { scope: 'user', home: '/srv/app', runtimeDir: '/run/user/990', commandTimeoutMs: 10_000 };
 * tx.add(installUnit({ ...m, unit: 'app.service', content }));
 * tx.add(start({ ...m, unit: 'app.service' }));
 * ```
 */
export const ManagerOptions = t.partial({
  /** Default `system`. */
  scope: Scope,
  /** Directory holding unit files (and where enable/mask write). Default `/etc/systemd/system`, or `<home>/.config/systemd/user`. */
  unitDir: t.string,
  /** The user's home for the `user` scope; default from the user database (never `$HOME`, never a guess at `/home`). */
  home: t.string,
  /** XDG_RUNTIME_DIR for the `user` scope; default this process's when it is the running user's own (see systemctlEnv), else `/run/user/<euid>`. */
  runtimeDir: t.string,
  /** DBUS_SESSION_BUS_ADDRESS for the `user` scope, when the user bus is needed; default `<runtimeDir>/bus` if that socket exists. */
  busAddress: t.string,
  /**
   * The systemctl program while your process runs the step. Default `systemctl` (found on PATH).
   * Recovery never runs a program named in a journal: it runs `systemctl` through the command
   * runner given to `recover({ exec })` — map it there with `withPrograms` from @unwind/core.
   */
  systemctl: t.string,
  /** Timeout of one systemctl call, ms. Default 30 000. */
  commandTimeoutMs: t.number,
});
/** See {@link ManagerOptions}. @example `const m: ManagerOptions = { scope: 'user' };` */
export type ManagerOptions = t.TypeOf<typeof ManagerOptions>;

/** What a command needs from the step context (or a probe's caller). */
export interface Runner {
  exec: CommandRunner;
  signal?: AbortSignal;
  /** `recover` when the options were read back from a journal: the systemctl program then is never theirs. */
  phase?: 'run' | 'recover' | 'plan';
}

/** Checks the manager options up front; throws {@link InvalidInputError}. */
export function validateManagerOptions(options: ManagerOptions): void {
  const scope = options.scope ?? 'system';
  if (typeof scope === 'object') validateUserName(scope.user);
  for (const key of ['unitDir', 'home', 'runtimeDir'] as const) {
    if (options[key] === undefined) continue;
    validateAbsolutePath(options[key], { what: key });
    // Journaled as given and compared as written at recovery: a trailing slash would make recovery refuse the step.
    if (options[key] !== '/' && options[key].endsWith('/')) throw new InvalidInputError(`${key} ${JSON.stringify(options[key])} must not end with "/"`, { [key]: options[key] });
  }
  if (options.busAddress !== undefined && (/[\0\n]/.test(options.busAddress) || options.busAddress === '')) throw new InvalidInputError('busAddress must be a non-empty single line', {});
  if (options.systemctl !== undefined && !/^[^\0\s-][^\0\s]*$/.test(options.systemctl)) throw new InvalidInputError(`systemctl program ${JSON.stringify(options.systemctl)} is not a plain path`, {});
  if (options.commandTimeoutMs !== undefined && !(options.commandTimeoutMs > 0)) throw new InvalidInputError('commandTimeoutMs must be positive', {});
  // A Node timer keeps at most 2^31-1 ms: a longer one fires at once, killing every systemctl of the step and of its undo.
  validateTimerMs(options.commandTimeoutMs, 'commandTimeoutMs');
  if (scope !== 'system' && scope !== 'user' && (options.runtimeDir !== undefined || options.busAddress !== undefined)) {
    throw new InvalidInputError('runtimeDir and busAddress apply to the own user manager (scope "user") only; another user is reached with --machine', {});
  }
}

/** A user name as useradd accepts it (also the form `--machine=NAME@` needs). */
export function validateUserName(name: unknown): string {
  return validateName(name, { what: 'user name', pattern: /^[a-z_][a-z0-9_.-]*\$?$/i, maxLength: 32 });
}

/** `[systemctl, scope flags...]`. */
export function systemctlPrefix(options: ManagerOptions, phase: Runner['phase'] = 'run'): string[] {
  const scope = options.scope ?? 'system';
  // A program path read back from a journal is never run: recovery runs `systemctl` through the configured runner.
  const program = programFor(options.systemctl, 'systemctl', phase);
  // --no-ask-password: a polkit prompt would hang a non-interactive run until its timeout.
  if (scope === 'system') return [program, '--no-ask-password'];
  if (scope === 'user') return [program, '--user', '--no-ask-password'];
  return [program, '--user', `--machine=${scope.user}@`, '--no-ask-password'];
}

/** The environment of a systemctl call, built explicitly: nothing of this process leaks in but PATH. */
export function systemctlEnv(options: ManagerOptions): Record<string, string> {
  const env = defaultEnv();
  if ((options.scope ?? 'system') !== 'user') return env;
  const runtimeDir = options.runtimeDir ?? ownRuntimeDir();
  env.XDG_RUNTIME_DIR = runtimeDir;
  const home = options.home ?? ownHome();
  if (home) env.HOME = home;
  if (options.busAddress) env.DBUS_SESSION_BUS_ADDRESS = options.busAddress;
  else if (isSocket(join(runtimeDir, 'bus'))) env.DBUS_SESSION_BUS_ADDRESS = `unix:path=${join(runtimeDir, 'bus')}`;
  return env;
}

/**
 * The running user's runtime directory: `$XDG_RUNTIME_DIR` only when it is
 * theirs — a real directory they own that nobody else can write, reached
 * only through directories nobody else can change (the journal root's
 * rule), as logind makes `/run/user/<uid>` — else `/run/user/<euid>`. Root
 * running with an environment inherited from another user's session (`su`
 * without `-`, `sudo -E`) would otherwise ask that user's bus, which they
 * answer, about root's own units.
 */
function ownRuntimeDir(): string {
  const uid = runningUid();
  const inherited = process.env.XDG_RUNTIME_DIR;
  if (inherited?.startsWith('/')) {
    try {
      assertPrivateDirectory(inherited, 'XDG_RUNTIME_DIR');
      return inherited;
    } catch {
      // Not the running user's: their own is where logind puts it.
    }
  }
  return `/run/user/${uid}`;
}

/** This process's user's home from the user database (getpwuid), not $HOME; undefined when the uid has no entry. */
function ownHome(): string | undefined {
  try {
    return userInfo().homedir || undefined;
  } catch {
    return undefined;
  }
}

function isSocket(path: string): boolean {
  try {
    return fs.statSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * Runs `systemctl <scope flags> <args...>` with a timeout and the explicit
 * environment. Rejects with core's CommandError (argv, exit code, stderr).
 */
export function systemctl(options: ManagerOptions, runner: Runner, args: string[], extra: { okExitCodes?: number[]; timeoutMs?: number } = {}): Promise<CommandResult> {
  return runner.exec({
    argv: [...systemctlPrefix(options, runner.phase), ...args],
    env: systemctlEnv(options),
    timeoutMs: extra.timeoutMs ?? options.commandTimeoutMs ?? 30_000,
    ...(runner.signal ? { signal: runner.signal } : {}),
    ...(extra.okExitCodes ? { okExitCodes: extra.okExitCodes } : {}),
  });
}

/** A user from the user database. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Looks a user up with `getent passwd NAME` (the user database, NSS included). */
export async function lookupUser(name: string, runner: Runner, timeoutMs = 10_000): Promise<PasswdEntry> {
  validateUserName(name);
  const result = await runner.exec({ argv: ['getent', 'passwd', name], timeoutMs, okExitCodes: [0, 2], ...(runner.signal ? { signal: runner.signal } : {}) });
  const line = result.stdout.split('\n').find((l) => l.startsWith(`${name}:`));
  if (result.exitCode === 2 || !line) throw new UserNotFoundError(name);
  const [, , uid, gid, , home] = line.split(':');
  return { name, uid: Number(uid), gid: Number(gid), home: home ?? '' };
}

/** Where unit files live for these options, and who must own what is created there. */
export interface UnitLocation {
  unitDir: string;
  /** Set for another user's scope: files and directories created are chowned to them. */
  owner?: { uid: number; gid: number };
}

/** Resolves the unit directory: the option, or the scope's default from the user database. */
export async function resolveUnitDir(options: ManagerOptions, runner: Runner): Promise<UnitLocation> {
  const scope = options.scope ?? 'system';
  if (scope === 'system') return { unitDir: options.unitDir ?? '/etc/systemd/system' };
  if (scope === 'user') {
    if (options.unitDir !== undefined) return { unitDir: options.unitDir };
    const home = options.home ?? ownHome();
    if (!home?.startsWith('/')) throw new InvalidInputError('this user has no home directory in the user database; pass home or unitDir', {});
    return { unitDir: join(home, '.config/systemd/user') };
  }
  const user = await lookupUser(scope.user, runner);
  const owner = { uid: user.uid, gid: user.gid };
  if (options.unitDir !== undefined) return { unitDir: options.unitDir, owner };
  const home = options.home ?? user.home;
  if (!home.startsWith('/')) throw new InvalidInputError(`user ${scope.user} has no absolute home directory in the user database`, { user: scope.user, home });
  return { unitDir: join(home, '.config/systemd/user'), owner };
}

/**
 * Whether the unit directory of these options must be reached through
 * descriptors (see unitdir.ts): another user's scope, or a user scope while
 * running as root. There every directory from the home down belongs to a user
 * who could swap it for a symlink while root works in it; the system unit
 * directory, and a user's own one reached as that user, keep path access.
 *
 * @example
 * ```ts
 * guardsUnitDir({ scope: { user: 'alice' } }); // true
 * guardsUnitDir({}); // false: /etc/systemd/system
 * ```
 */
export function guardsUnitDir(options: ManagerOptions): boolean {
  const scope = options.scope ?? 'system';
  if (scope === 'system') return false;
  return typeof scope === 'object' || (process.geteuid?.() ?? process.getuid?.()) === 0;
}

/** Human form of a scope, for descriptions. */
export function describeScope(options: ManagerOptions): string {
  const scope = options.scope ?? 'system';
  return scope === 'system' ? '' : scope === 'user' ? ' (user)' : ` (user ${scope.user})`;
}
