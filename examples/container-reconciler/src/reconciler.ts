import { join } from 'node:path';
import { InvalidInputError, causeOf, fileJournal, recover, runCommand, withPrograms, type CommandRunner, type Journal, type JournalRecord, type Lock, type RecoveryReport, type StepHandle } from '@unwind/core';
import type { StepInjection } from '@unwind/core/testing/helpers';
import { enableLinger, disableLinger, isLingering, kinds as lingerKinds } from '@unwind/linger';
import { reconcile, type AnyStep, type PlannedChange, type Problem, type ReconcileReport } from '@unwind/reconcile';
import { kinds as filesKinds } from '@unwind/files';
import { installUnit, isActive, kinds as systemdKinds, restart, restartOnRollback, startUserManager, stop, unitState, type ManagerOptions } from '@unwind/systemd';
import { addToGroup, ensureGroup, ensureUser, kinds as usersKinds, removeUser, type UserEntry } from '@unwind/users';
import { isOwned, prefixExec, protection, readAccounts, type Account } from './accounts.js';
import { readDesired, validateContainer, type Container } from './desired.js';
import { fetchDesired } from './desired-git.js';
import { fetchUnderLock } from './fetch-under-lock.js';
import { groupProblems } from './groups.js';
import { QuadletUnavailableError, USER_GENERATOR_DIRS, findQuadletGenerator, quadletGenerated, quadletSteps } from './quadlet.js';
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
  /**
   * The directory of the desired state: `<name>.service` units or Quadlet
   * files, and transform sub-directories. With `repository`, the checkout
   * the run fetches into (default `<stateDir>/repo`).
   */
  desiredDir?: string;
  /** quadlet-deploy's transform directory: `NAME.container` is merged into every `.container` of the sub-directory `NAME/`. */
  transformsDir?: string;
  /** Where the desired state is fetched from (git: a URL or a path), under the run's lock, before anything else. */
  repository?: string;
  /** The branch of `repository` whose tip is the desired state. Default `main`. */
  branch?: string;
  /** Holds the journal (`journal/`) and the status file (`status.json`). */
  stateDir: string;
  /** Users live in this root (shadow tools `-P`); default the machine. */
  prefix?: string;
  /** The managed group: membership (with the marker) means "ours". It grants nothing; a sudoers rule for it is refused. Default `unwind-containers`. */
  group?: string;
  /**
   * The privilege group: every container user is added to it (e.g. the group
   * sudoers lets run a key-minting helper). Never read for ownership: a human
   * added to it for the privilege is never touched. Must differ from `group`.
   */
  privilegeGroup?: string;
  /** Where sudoers lives, to check that the managed group grants nothing. Default `<prefix>/etc/sudoers` and `sudoers.d/`. */
  sudoers?: string;
  /** The user generator directories searched for podman's Quadlet generator. Default systemd's. */
  generatorDirs?: string[];
  /** The GECOS marker of managed users. Default `unwind-container`. */
  marker?: string;
  /** Users never removed or managed, on top of root and system accounts. */
  deny?: readonly string[];
  /** Subdirectories of the desired directory that are allowed (skipped); `.git` is added for a fetched repository. */
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
  /** For failure tests: steps put in between a container's own (by its name), e.g. a failure after its Nth step. */
  inject?: Readonly<Record<string, readonly StepInjection[]>>;
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
export const reconcilerKinds = [...usersKinds, ...lingerKinds, ...systemdKinds, ...filesKinds, removeUnitFile, quadletGenerated, fetchDesired];

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
  const quadletDirOf = (user: Pick<UserEntry, 'home'>) => join(prefix ?? '/', user.home, '.config/containers/systemd');
  const systemManager = { ...(config.systemSystemctl ? { systemctl: config.systemSystemctl } : {}), commandTimeoutMs: timeout };
  const privilegeGroup = config.privilegeGroup;
  return { prefix, timeout, exec, target, group, privilegeGroup, marker, deny, lingerDir, common, linger, manager, unitPathOf, quadletDirOf, systemManager };
}
type Settings = ReturnType<typeof settings>;

/**
 * The steps that bring one container to its desired state — the same for
 * create, update and repair, since every step is idempotent: the managed
 * group, the user (with the marker), its membership (and the privilege
 * group's, if any), linger, its manager started and waited for (no sleep
 * loop), a step whose undo restarts the unit if a rollback brings its old
 * definition back under a process this run started, then the unit file
 * (installed, reloaded, checked loaded) — or the
 * Quadlet files (written to `~/.config/containers/systemd/`, reloaded so
 * the generator runs, each generated unit checked; a Quadlet file of it no
 * longer desired removed) — and a restart checked to stay active.
 *
 * @example
 * ```ts
 * for (const step of deploySteps(container, settings(config), config)) tx.add(step);
 * ```
 */
export function deploySteps(c: Container, s: Settings, config: ReconcilerConfig, actual?: Account): AnyStep[] {
  const user: StepHandle<{ uid: number; gid: number; home: string }> = { index: 1 };
  const privilege = s.privilegeGroup
    ? [ensureGroup({ name: s.privilegeGroup, system: true, ...s.common }), addToGroup({ user: c.name, group: s.privilegeGroup, ...s.common }, { label: 'privilege group' })]
    : [];
  const account = [
    ensureGroup({ name: s.group, system: true, ...s.common }),
    ensureUser({ name: c.name, comment: s.marker, ...s.common }),
    addToGroup({ user: c.name, group: s.group, ...s.common }),
    ...privilege,
    enableLinger(s.linger(c.name)),
    startUserManager({ user: c.name, timeoutMs: config.managerStartTimeoutMs ?? 60_000, ...(config.systemSystemctl ? { systemctl: config.systemSystemctl } : {}) }),
  ];
  // The home is the one the user database gives after step 2, never a guess.
  const restartIt = restart((get) => ({ unit: c.unit, settleMs: config.settleMs ?? 1000, ...s.manager(c.name, get(user).home) }));
  // Before any file changes: its undo runs after theirs, so a rolled-back update runs the old definition again.
  const restartBack = restartOnRollback((get) => ({ unit: c.unit, ...s.manager(c.name, get(user).home) }));
  if (c.kind === 'unit') return [...account, restartBack, installUnit((get) => ({ unit: c.unit, content: c.content, ...s.manager(c.name, get(user).home) })), restartIt];
  const wanted = new Set(c.quadlet.map((f) => f.file));
  const stale = Object.keys(actual?.quadlet ?? {}).filter((f) => !wanted.has(f)).sort();
  return [
    ...account,
    restartBack,
    ...stale.map((f) => removeUnitFile({ path: join(actual!.quadletDir, f), manager: s.manager(c.name, actual!.home) }, { label: `remove ${f}, no longer desired` })),
    ...quadletSteps(
      { user: c.name, files: c.quadlet, ...(config.generatorDirs ? { generatorDirs: config.generatorDirs } : {}) },
      (get) => {
        const u = get(user);
        // Files go to the real path (under the prefix root, when there is one).
        return { uid: u.uid, gid: u.gid, home: join(s.prefix ?? '/', u.home) };
      },
    ),
    restartIt,
  ];
}

/**
 * The steps that remove a managed user no longer desired: its unit stopped
 * and its unit file or Quadlet files removed, linger off, the account and home removed (staged until commit).
 *
 * @example
 * ```ts
 * for (const step of removalSteps(account, settings(config))) tx.add(step);
 * ```
 */
export function removalSteps(a: Account, s: Settings): AnyStep[] {
  const manager = s.manager(a.name, a.home);
  const unit = `${a.name}.service`;
  const quadlet = Object.keys(a.quadlet).sort();
  const files = [...(a.unitContent !== null ? [a.unitPath] : []), ...quadlet.map((f) => join(a.quadletDir, f))];
  return [
    ...(files.length > 0 ? [stop({ unit, ...manager }), ...files.map((path) => removeUnitFile({ path, manager }))] : []),
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
  if (c.kind === 'unit' && a.unitContent === null) found.push('unit file missing');
  for (const f of c.quadlet) if (a.quadlet[f.file] === undefined) found.push(`Quadlet file ${f.file} missing`);
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
 * Whether a deployed container differs from its desired form (→ update).
 *
 * @example
 * ```ts
 * differs(container, account); // true when web.container's bytes changed
 * ```
 */
export function differs(c: Container, a: Account): boolean {
  if (c.kind === 'unit') return a.unitContent !== null && a.unitContent !== c.content;
  const deployed = Object.keys(a.quadlet);
  if (deployed.length === 0) return false;
  return deployed.length !== c.quadlet.length || c.quadlet.some((f) => a.quadlet[f.file] !== undefined && a.quadlet[f.file] !== f.content);
}

/**
 * Reconciles the desired state with the machine (or the prefix root): one
 * lock for the whole run; the desired repository fetched under it (when
 * `repository` is given); every input checked first (the whole directory,
 * every Quadlet file, the groups and sudoers, a Quadlet generator present);
 * containers in sorted order, one transaction per container; removal only
 * of users with BOTH the managed group and the marker that are not
 * protected; a status file; and a non-zero exit code when any container failed.
 *
 * @example
 * ```ts
 * const report = await reconcileContainers({ repository: 'https://git.example.org/ops/containers.git', transformsDir: '/etc/container-reconciler/transforms', stateDir: '/var/lib/container-reconciler' });
 * process.exitCode = report.exitCode;
 * ```
 */
export async function reconcileContainers(config: ReconcilerConfig): Promise<ReconcileReport> {
  const journal = fileJournal({ root: join(config.stateDir, 'journal'), ...(config.afterAppend ? { afterAppend: config.afterAppend } : {}) });
  if (!config.repository) return reconcileFrom(config, journal);
  let lock: Lock;
  try {
    lock = journal.lock('reconcile containers');
  } catch (error) {
    // As reconcile() answers: refused with a typed cause (another run holds the lock: 3), nothing touched.
    const now = new Date().toISOString();
    const cause = causeOf(error);
    return { name: 'containers', status: 'refused', cause, exitCode: cause.code === 'LOCK_HELD' ? 3 : 4, startedAt: now, finishedAt: now, durationMs: 0, items: [], problems: [], recovered: [] };
  }
  try {
    const checkout = config.desiredDir ?? join(config.stateDir, 'repo');
    await fetchUnderLock({ repository: config.repository, branch: config.branch ?? 'main', checkout }, journal, lock, { kinds: reconcilerKinds, exec: settings(config).exec, ...(config.handleSignals !== undefined ? { handleSignals: config.handleSignals } : {}) });
    return await reconcileFrom({ ...config, desiredDir: checkout, allowedDirs: [...(config.allowedDirs ?? []), '.git'] }, journal, lock);
  } finally {
    lock.release();
  }
}

async function reconcileFrom(config: ReconcilerConfig, journal: Journal, lock?: Lock): Promise<ReconcileReport> {
  const s = settings(config);
  if (!config.desiredDir) throw new InvalidInputError('a desired directory or a repository is needed', {});
  const { containers, problems } = readDesired(config.desiredDir, { ...(config.allowedDirs ? { allowedDirs: config.allowedDirs } : {}), ...(config.transformsDir ? { transformsDir: config.transformsDir } : {}) });
  problems.push(...runProblems(containers, s, config));
  return reconcile<Container, Account>({
    name: 'containers',
    desired: containers,
    actual: () => readAccounts(containers.map((c) => c.name), { group: s.group, marker: s.marker, deny: s.deny, unitPathOf: s.unitPathOf, quadletDirOf: s.quadletDirOf, exec: s.exec, ...(s.prefix ? { prefix: s.prefix } : {}) }),
    key: (c) => c.name,
    actualKey: (a) => a.name,
    problems,
    validate: validateContainer,
    differs,
    check: (c, a, signal) => driftOf(c, a, s, signal),
    plan: (change: PlannedChange<Container, Account>) => withInjected(deploySteps(change.desired, s, config, change.actual), config.inject?.[change.key]),
    planRemoval: (a) => removalSteps(a, s),
    ownership: (a) => isOwned(a, s.marker),
    protect: (name, a) => protection(name, a, s),
    journal,
    ...(lock ? { lock } : {}),
    recoverKinds: reconcilerKinds,
    statusFile: join(config.stateDir, 'status.json'),
    exec: s.exec,
    ...(config.handleSignals !== undefined ? { handleSignals: config.handleSignals } : {}),
  });
}

/** Problems of the run as a whole, found before anything changes: the groups, sudoers, and what Quadlet needs. */
function runProblems(containers: readonly Container[], s: Settings, config: ReconcilerConfig): Problem[] {
  const problems: Problem[] = groupProblems(s, config.sudoers);
  const quadlet = containers.filter((c) => c.kind === 'quadlet').map((c) => c.name);
  if (quadlet.length === 0) return problems;
  if (s.target.kind === 'shared') problems.push({ message: `${quadlet.join(', ')}: Quadlet files are deployed to each container user's own manager; a shared unit directory serves .service units only` });
  else if (!findQuadletGenerator(config.generatorDirs)) problems.push({ message: new QuadletUnavailableError(config.generatorDirs ?? USER_GENERATOR_DIRS).message });
  return problems;
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

/** A plan's steps with a test's steps put in after the first `afterStep` of them (as `addSteps` puts them in a transaction). */
function withInjected(steps: AnyStep[], inject: readonly StepInjection[] = []): AnyStep[] {
  const at = (index: number) => inject.filter((i) => i.afterStep === index || (index === steps.length && i.afterStep > index)).map((i) => i.step);
  return [...steps.flatMap((step, index) => [...at(index), step]), ...at(steps.length)];
}
