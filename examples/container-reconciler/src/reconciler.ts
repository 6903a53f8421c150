import { join } from 'node:path';
import { fileJournal, recover, runCommand, withPrograms, type CommandRunner, type JournalRecord, type RecoveryReport, type StepHandle } from '@unwind/core';
import { enableLinger, disableLinger, isLingering, kinds as lingerKinds } from '@unwind/linger';
import { reconcile, type AnyStep, type PlannedChange, type ReconcileReport } from '@unwind/reconcile';
import { installUnit, isActive, kinds as systemdKinds, restart, startUserManager, stop, unitState, type ManagerOptions } from '@unwind/systemd';
import { addToGroup, ensureGroup, ensureUser, kinds as usersKinds, removeUser, type UserEntry } from '@unwind/users';
import { isOwned, prefixExec, protection, readAccounts, type Account } from './accounts.js';
import { readDesired, validateContainer, type Container } from './desired.js';
import { removeUnitFile } from './remove-unit-file.js';

/**
 * Where the containers' units run.
 *
 * - `per-user` (the real deployment): each container's unit goes to its own
 *   user's manager (`systemctl --user --machine=NAME@`), in
 *   `<home>/.config/systemd/user` with the home read from the user database.
 * - `shared`: every unit goes to one given manager and unit directory. For a
 *   sandbox without systemd as PID 1, where one real user manager runs (the
 *   tests use it).
 *
 * @example
 * ```ts
 * const target: Target = { kind: 'shared', manager: { scope: 'user', home, runtimeDir, unitDir } };
 * ```
 */
export type Target = { kind: 'per-user' } | { kind: 'shared'; manager: ManagerOptions & { unitDir: string } };

/**
 * Configuration of a run.
 *
 * @example
 * ```ts
 * const config: ReconcilerConfig = { desiredDir: '/srv/desired', stateDir: '/var/lib/container-reconciler' };
 * ```
 */
export interface ReconcilerConfig {
  /** The directory of `<name>.service` files. */
  desiredDir: string;
  /** Holds the journal (`journal/`) and the status file (`status.json`). */
  stateDir: string;
  /** Users live in this root (shadow tools `-P`); default the machine. */
  prefix?: string;
  /** The managed group. It grants no privilege: never use it in sudoers. Default `unwind-containers`. */
  group?: string;
  /** The GECOS marker of managed users. Default `unwind-container`. */
  marker?: string;
  /** Users never removed or managed, on top of root and system accounts. */
  deny?: readonly string[];
  /** Subdirectories of the desired directory that are allowed (skipped). */
  allowedDirs?: readonly string[];
  /** The linger directory. Default `<prefix>/var/lib/systemd/linger`. */
  lingerDir?: string;
  /** The loginctl program. Default `loginctl`. */
  loginctl?: string;
  /** The systemctl program that reaches the system manager (for user@UID.service). Default `systemctl`. */
  systemSystemctl?: string;
  target?: Target;
  /** Timeout of every external command, ms. Default 30 000. */
  commandTimeoutMs?: number;
  /** How long a user's manager may take to start, ms. Default 60 000. */
  managerStartTimeoutMs?: number;
  /** How long a restarted unit must stay active before it counts, ms. Default 1000. */
  settleMs?: number;
  /** Program runner (tests inject faults here). */
  exec?: CommandRunner;
  handleSignals?: boolean;
  /** For crash tests: called after each journal record. */
  afterAppend?: (record: JournalRecord) => void;
}

const DEFAULT_GROUP = 'unwind-containers';
const DEFAULT_MARKER = 'unwind-container';

/**
 * Every step kind a container-reconciler journal may name, for `recover`.
 *
 * @example
 * ```ts
 * await recover({ root: '/var/lib/container-reconciler/journal', kinds: reconcilerKinds });
 * ```
 */
export const reconcilerKinds = [...usersKinds, ...lingerKinds, ...systemdKinds, removeUnitFile];

/**
 * The settings of a run, with defaults filled in, and the helpers the plans share.
 *
 * @example
 * ```ts
 * const s = settings({ desiredDir: '/srv/desired', stateDir: '/var/lib/cr' });
 * s.manager('web', '/srv/containers/web'); // { scope: { user: 'web' }, unitDir: '/srv/containers/web/.config/systemd/user', ... }
 * ```
 */
export function settings(config: ReconcilerConfig) {
  const prefix = config.prefix;
  const timeout = config.commandTimeoutMs ?? 30_000;
  const base = prefix ? prefixExec(prefix, config.exec ?? runCommand) : (config.exec ?? runCommand);
  const exec = configuredPrograms(base, config);
  const target: Target = config.target ?? { kind: 'per-user' };
  const group = config.group ?? DEFAULT_GROUP;
  const marker = config.marker ?? DEFAULT_MARKER;
  const deny = [...(config.deny ?? [])];
  const lingerDir = config.lingerDir ?? join(prefix ?? '/', 'var/lib/systemd/linger');
  const common = { ...(prefix ? { prefix } : {}), protect: deny, commandTimeoutMs: timeout };
  const linger = (user: string) => ({ user, lingerDir, ...(config.loginctl ? { loginctl: config.loginctl } : {}), commandTimeoutMs: timeout });
  /** Where a user's manager is reached and where its unit file lives (home from the user database). */
  const manager = (user: string, home: string): ManagerOptions =>
    target.kind === 'shared' ? { ...target.manager, commandTimeoutMs: timeout } : { scope: { user }, unitDir: join(prefix ?? '/', home, '.config/systemd/user'), commandTimeoutMs: timeout };
  const unitPathOf = (user: UserEntry, unit: string) => join(manager(user.name, user.home).unitDir!, unit);
  const systemManager = { ...(config.systemSystemctl ? { systemctl: config.systemSystemctl } : {}), commandTimeoutMs: timeout };
  return { prefix, timeout, exec, target, group, marker, deny, lingerDir, common, linger, manager, unitPathOf, systemManager };
}
type Settings = ReturnType<typeof settings>;

/**
 * The steps that bring one container to its desired state — the same for
 * create, update and repair, since every step is idempotent: the managed
 * group, the user (with the marker), its membership, linger, its manager
 * started and waited for (no sleep loop), the unit file (installed, reloaded,
 * checked loaded) and a restart checked to stay active.
 *
 * @example
 * ```ts
 * for (const step of deploySteps(container, settings(config), config)) tx.add(step);
 * ```
 */
export function deploySteps(c: Container, s: Settings, config: ReconcilerConfig): AnyStep[] {
  const user: StepHandle<{ home: string }> = { index: 1 };
  return [
    ensureGroup({ name: s.group, system: true, ...s.common }),
    ensureUser({ name: c.name, comment: s.marker, ...s.common }),
    addToGroup({ user: c.name, group: s.group, ...s.common }),
    enableLinger(s.linger(c.name)),
    startUserManager({ user: c.name, timeoutMs: config.managerStartTimeoutMs ?? 60_000, ...(config.systemSystemctl ? { systemctl: config.systemSystemctl } : {}) }),
    // The home is the one the user database gives after step 2, never a guess.
    installUnit((get) => ({ unit: c.unit, content: c.content, ...s.manager(c.name, get(user).home) })),
    restart((get) => ({ unit: c.unit, settleMs: config.settleMs ?? 1000, ...s.manager(c.name, get(user).home) })),
  ];
}

/**
 * The steps that remove a managed user no longer desired: its unit stopped
 * and removed, linger off, the account and home removed (staged until commit).
 *
 * @example
 * ```ts
 * for (const step of removalSteps(account, settings(config))) tx.add(step);
 * ```
 */
export function removalSteps(a: Account, s: Settings): AnyStep[] {
  const manager = s.manager(a.name, a.home);
  const unit = `${a.name}.service`;
  return [
    ...(a.unitContent !== null ? [stop({ unit, ...manager }), removeUnitFile({ path: a.unitPath, manager })] : []),
    disableLinger(s.linger(a.name)),
    // In a prefix root, the host's processes of that uid are not this user's: never signal them.
    removeUser({ name: a.name, removeHome: true, lingerDir: s.lingerDir, ...(s.prefix ? { stopProcesses: false } : {}), ...s.common }),
  ];
}

/**
 * Read-only: what drifted on an unchanged container (unit file missing,
 * linger off, user manager not active, service not active), or undefined.
 *
 * @example
 * ```ts
 * await driftOf(container, account, settings(config), new AbortController().signal); // 'service not active'
 * ```
 */
export async function driftOf(c: Container, a: Account, s: Settings, signal: AbortSignal): Promise<string | undefined> {
  const found: string[] = [];
  const probe = { exec: s.exec, signal };
  if (a.unitContent === null) found.push('unit file missing');
  if (!isLingering(a.name, { lingerDir: s.lingerDir })) found.push('linger is off');
  const managerState = await unitState(`user@${a.uid}.service`, 'system', { ...s.systemManager, ...probe });
  if (managerState.activeState !== 'active') found.push(`user manager ${managerState.activeState || 'unknown'}`);
  else {
    const { scope, ...rest } = s.manager(a.name, a.home);
    if (!(await isActive(c.unit, scope, { ...rest, ...probe }))) found.push('service not active');
  }
  return found.length > 0 ? found.join('; ') : undefined;
}

/**
 * Reconciles the desired directory with the machine (or the prefix root):
 * one lock for the whole run, every input checked first, containers in
 * sorted order, one transaction per container, removal only of users with
 * BOTH the managed group and the marker that are not protected, a status
 * file, and a non-zero exit code when any container failed.
 *
 * @example
 * ```ts
 * const report = await reconcileContainers({ desiredDir: '/srv/desired', stateDir: '/var/lib/container-reconciler' });
 * process.exitCode = report.exitCode;
 * ```
 */
export async function reconcileContainers(config: ReconcilerConfig): Promise<ReconcileReport> {
  const s = settings(config);
  const { containers, problems } = readDesired(config.desiredDir, config.allowedDirs ? { allowedDirs: config.allowedDirs } : {});
  const journal = fileJournal({ root: join(config.stateDir, 'journal'), ...(config.afterAppend ? { afterAppend: config.afterAppend } : {}) });
  return reconcile<Container, Account>({
    name: 'containers',
    desired: containers,
    actual: () => readAccounts(containers.map((c) => c.name), { group: s.group, marker: s.marker, deny: s.deny, unitPathOf: s.unitPathOf, exec: s.exec, ...(s.prefix ? { prefix: s.prefix } : {}) }),
    key: (c) => c.name,
    actualKey: (a) => a.name,
    problems,
    validate: validateContainer,
    differs: (c, a) => a.unitContent !== null && a.unitContent !== c.content,
    check: (c, a, signal) => driftOf(c, a, s, signal),
    plan: (change: PlannedChange<Container, Account>) => deploySteps(change.desired, s, config),
    planRemoval: (a) => removalSteps(a, s),
    ownership: (a) => isOwned(a, s.marker),
    protect: (name, a) => protection(name, a, s),
    journal,
    recoverKinds: reconcilerKinds,
    statusFile: join(config.stateDir, 'status.json'),
    exec: s.exec,
    ...(config.handleSignals !== undefined ? { handleSignals: config.handleSignals } : {}),
  });
}

/**
 * Finishes what a killed run left: rolls back (or completes) its unfinished
 * transaction. `reconcileContainers` does this by itself before planning.
 *
 * @example
 * ```ts
 * await recoverContainers({ stateDir: '/var/lib/container-reconciler' });
 * ```
 */
export function recoverContainers(config: Pick<ReconcilerConfig, 'stateDir' | 'prefix' | 'exec' | 'loginctl' | 'systemSystemctl'>): Promise<RecoveryReport> {
  const base = config.prefix ? prefixExec(config.prefix, config.exec ?? runCommand) : (config.exec ?? runCommand);
  // Programs come from this configuration, never from the journal (recovery ignores journaled program paths).
  const exec = configuredPrograms(base, config);
  return recover({ root: join(config.stateDir, 'journal'), kinds: reconcilerKinds, exec });
}

/**
 * The runner with the programs this configuration names: `loginctl`, and the
 * systemctl that reaches the system manager. Recovery runs bare program names
 * (it never runs a path read from a journal), so this is where they are
 * mapped: a `systemctl` call for a user's manager (`--user`) stays the real
 * one, any other goes to `systemSystemctl`.
 */
function configuredPrograms(base: CommandRunner, config: Pick<ReconcilerConfig, 'loginctl' | 'systemSystemctl'>): CommandRunner {
  const exec = config.loginctl ? withPrograms(base, { loginctl: config.loginctl }) : base;
  const systemManager = config.systemSystemctl ? withPrograms(exec, { systemctl: config.systemSystemctl }) : exec;
  return (spec) => (spec.argv[0] === 'systemctl' && !spec.argv.includes('--user') ? systemManager(spec) : exec(spec));
}
