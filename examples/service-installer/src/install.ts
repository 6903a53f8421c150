import { dirname, join } from 'node:path';
import {
  describeOutcome,
  exitCodeOf,
  fileJournal,
  recover,
  runCommand,
  transaction,
  withPrograms,
  validateName,
  type AnyStepKind,
  type CommandRunner,
  type EventListener,
  type JournalRecord,
  type Outcome,
  type RecoveryReport,
  type ResultReader,
  type Step,
  type StepHandle,
  recoveryRefusal,
} from '@unwind/core';
import { addSteps, type TestHooks } from '@unwind/core/testing/helpers';
import { exitOnThirdSignal } from '@unwind/cli';
import { ensureDir, kinds as filesKinds, writeFile } from '@unwind/files';
import { DEFAULT_LINGER_DIR, enableLinger, kinds as lingerKinds } from '@unwind/linger';
import { daemonReload, enable, installUnit, kinds as systemdKinds, start, startUserManager, type ManagerOptions } from '@unwind/systemd';
import { ensureGroup, ensureUser, kinds as usersKinds } from '@unwind/users';
import { checkService, kinds as ownKinds, waitActive } from './steps.js';

/**
 * Options of {@link install}.
 *
 * @example
 * ```ts
 * const options: InstallOptions = {
 *   name: 'hello',
 *   prefix: '/tmp/sb', lingerDir: '/tmp/sb/var/lib/systemd/linger', loginctl: '/tmp/sb/usr/bin/loginctl',
 *   manager: { scope: 'user', home: '/tmp/sb/manager/home', runtimeDir: '/tmp/sb/manager/run' },
 *   journalRoot: '/tmp/sb/var/lib/unwind-service-installer',
 * };
 * ```
 */
export interface InstallOptions extends TestHooks {
  /** The service's name: its user, its group, `<name>.service`, `/etc/<name>/<name>.conf`. */
  name: string;
  /** A prefix root for users, groups and the config file (the sandbox); omitted: the machine. */
  prefix?: string;
  /** The linger directory. Default PREFIX/var/lib/systemd/linger, or /var/lib/systemd/linger. */
  lingerDir?: string;
  /** The loginctl program (a stub in the sandbox). Default `loginctl`. */
  loginctl?: string;
  /**
   * How to reach the service manager the unit goes to. The sandbox uses a
   * private user manager (`scope: 'user'` with its home and runtime dir);
   * the machine uses the service user's own manager (`scope: { user: name }`).
   */
  manager: ManagerOptions;
  /** Start the service user's manager first (`systemd.startUserManager`); for `scope: { user }` on a machine with systemd. */
  startManager?: boolean;
  /**
   * A system service in the system manager (`manager.scope` `'system'`): the unit runs as the
   * service user (`User=`, `Group=`) and is wanted by `multi-user.target`; no linger phase; the
   * verify phase checks the main process runs as that user.
   */
  system?: boolean;
  /** The journal root. */
  journalRoot: string;
  /** The config file's content. Default: a GREETING line. The service refuses to run without GREETING. */
  config?: string;
  /** How long the unit may take to become active, ms. Default 30 000. */
  activeTimeoutMs?: number;
  /** How long a started unit must stay active, ms (start's settle and the wait phase). Default 500. */
  settleMs?: number;
  /** Progress events (e.g. `renderProgress()`). */
  onEvent?: EventListener;
  /** Turn SIGINT/SIGTERM into a rollback. Default true. */
  handleSignals?: boolean;
  /** Command runner for every step (tests wrap it to make a command fail). */
  exec?: CommandRunner;
  /** How the person resumes a stuck rollback, quoted in messages. */
  recoverCommand?: string;
}

/**
 * How an install ended.
 *
 * @example
 * ```ts
 * const result = await install(options);
 * console.log(result.message);
 * process.exitCode = result.exitCode;
 * ```
 */
export interface InstallResult {
  status: Outcome['status'];
  /** What recovery of an earlier, interrupted install did first. */
  recovered: RecoveryReport;
  /** The transaction's outcome; absent when an earlier, stuck install made this run refuse. */
  outcome?: Outcome;
  /** Plain words for the person: what failed, that a rollback ran, how it ended. */
  message: string;
  exitCode: number;
}

/**
 * Every kind an installer journal may name.
 *
 * @example
 * ```ts
 * await recover({ root: journalRoot, kinds: installerKinds });
 * ```
 */
export const installerKinds: readonly AnyStepKind[] = [...usersKinds, ...lingerKinds, ...filesKinds, ...systemdKinds, ...ownKinds];

/**
 * The default config: the one variable the service needs.
 *
 * @example
 * ```ts
 * defaultConfig('hello'); // '# hello: ...\nGREETING=hello from hello\n'
 * ```
 */
export function defaultConfig(name: string): string {
  return `# ${name}: written by the unwind service-installer example\nGREETING=hello from ${name}\n`;
}

/**
 * The unit: a simple service that reads its config as an EnvironmentFile and
 * refuses to run without GREETING (so a wrong config is a failed start).
 * `$$` is a literal `$` for systemd.
 *
 * @example
 * ```ts
 * installUnit({ unit: 'hello.service', content: unitFile('hello', '/etc/hello/hello.conf') });
 * installUnit({ scope: 'system', unit: 'hello.service', content: unitFile('hello', '/etc/hello/hello.conf', true) });
 * ```
 */
export function unitFile(name: string, configPath: string, system = false): string {
  return [
    '[Unit]',
    `Description=${name} (installed by the unwind service-installer example)`,
    '',
    '[Service]',
    'Type=simple',
    // A system service runs as its own system user, never as root.
    ...(system ? [`User=${name}`, `Group=${name}`] : []),
    `EnvironmentFile=${configPath}`,
    `ExecStart=/bin/sh -c 'test -n "$$GREETING" || { echo "GREETING is missing from ${configPath}" >&2; exit 2; }; exec sleep infinity'`,
    '',
    '[Install]',
    system ? 'WantedBy=multi-user.target' : 'WantedBy=default.target',
    '',
  ].join('\n');
}

/**
 * Where things go for these options.
 *
 * @example
 * ```ts
 * targets({ name: 'hello', prefix: '/tmp/sb' }).configPath; // '/tmp/sb/etc/hello/hello.conf'
 * ```
 */
export function targets(options: Pick<InstallOptions, 'name' | 'prefix' | 'lingerDir'>) {
  const root = options.prefix ?? '/';
  const configPath = join(root, 'etc', options.name, `${options.name}.conf`);
  return {
    unit: `${options.name}.service`,
    home: `/var/lib/${options.name}`,
    configDir: dirname(configPath),
    configPath,
    lingerDir: options.lingerDir ?? (options.prefix ? join(options.prefix, 'var/lib/systemd/linger') : DEFAULT_LINGER_DIR),
  };
}

/**
 * The installer's phases, in order: group, user, linger, (the user's
 * manager,) config directory, config file, unit file, daemon-reload, enable,
 * start, wait until active, verify.
 *
 * @example
 * ```ts
 * for (const step of installSteps(options, (get) => get(groupHandle).gid)) tx.add(step);
 * ```
 */
export function installSteps(options: InstallOptions, gidOf: (get: ResultReader) => number): Array<Step<any, any, any>> {
  const { name, prefix } = options;
  const t = targets(options);
  const users = { ...(prefix ? { prefix } : {}) };
  const m = options.manager;
  const config = options.config ?? defaultConfig(name);
  const settleMs = options.settleMs ?? 500;
  const steps: Array<Step<any, any, any>> = [
    ensureGroup({ name, system: true, ...users }, { label: 'group' }),
    ensureUser({ name, system: true, group: name, home: t.home, createHome: true, shell: '/usr/sbin/nologin', comment: `${name} service`, ...users }, { label: 'user' }),
  ];
  // Linger keeps a user manager alive; a system service needs none.
  if (!options.system) steps.push(enableLinger({ user: name, lingerDir: t.lingerDir, ...(options.loginctl ? { loginctl: options.loginctl } : {}) }, { label: 'linger' }));
  if (options.startManager) steps.push(startUserManager({ user: name }, { label: 'user manager' }));
  steps.push(
    ensureDir({ path: t.configDir, mode: 0o755 }, { label: 'config directory' }),
    // Readable by root and the service's group only; the gid comes from the group phase.
    writeFile((get) => ({ path: t.configPath, content: config, mode: 0o640, uid: 0, gid: gidOf(get) }), { label: 'config file' }),
    installUnit({ ...m, unit: t.unit, content: unitFile(name, t.configPath, options.system === true) }, { label: 'unit file' }),
    daemonReload({ ...m }, { label: 'daemon-reload' }),
    enable({ ...m, unit: t.unit }, { label: 'enable' }),
    start({ ...m, unit: t.unit, settleMs }, { label: 'start' }),
    waitActive({ ...m, unit: t.unit, timeoutMs: options.activeTimeoutMs ?? 30_000, stableMs: settleMs }, { label: 'wait until active' }),
    checkService({ ...m, name, configPath: t.configPath, config, ...(options.system ? { runsAsUser: true } : { lingerDir: t.lingerDir }), ...users }, { label: 'verify' }),
  );
  return steps;
}

/**
 * Finishes (or rolls back) an install that was interrupted. Safe to run any
 * time and twice; {@link install} runs it first.
 *
 * @example
 * ```ts
 * const report = await recoverInstall({ journalRoot: '/var/lib/unwind-service-installer' });
 * ```
 */
export function recoverInstall(options: { journalRoot: string; extraKinds?: readonly AnyStepKind[]; onEvent?: EventListener; exec?: CommandRunner; loginctl?: string }): Promise<RecoveryReport> {
  // The sandbox's loginctl comes from this configuration, never from the journal.
  const exec = options.loginctl ? withPrograms(options.exec ?? runCommand, { loginctl: options.loginctl }) : options.exec;
  return recover({
    root: options.journalRoot,
    kinds: [...installerKinds, ...(options.extraKinds ?? [])],
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(exec ? { exec } : {}),
  });
}

/**
 * One line per transaction recovery finished, for the message.
 *
 * @example
 * ```ts
 * console.log(describeRecovery(await recoverInstall({ journalRoot })).join('\n'));
 * ```
 */
export function describeRecovery(report: RecoveryReport): string[] {
  const refusal = recoveryRefusal(report); // another live run holds the lock, or recovery could not start
  if (refusal) return [refusal.message];
  return report.transactions
    .filter((t) => t.result !== 'already-finished')
    .map((t) => {
      switch (t.result) {
        case 'rolled-back':
          return `An interrupted install (${t.id}) was found and rolled back first.`;
        case 'committed':
          return `An interrupted install (${t.id}) had passed its commit point; its last clean-up was finished first.`;
        default:
          return `An earlier install (${t.id}) is still unfinished (${t.result}${t.error ? `: ${t.error.message}` : ''}).`;
      }
    });
}

/**
 * Plain words about an outcome: what failed, that a rollback ran and what it undid, how it ended.
 *
 * @example
 * ```ts
 * console.error(describeInstall('hello', outcome, 'on this machine'));
 * ```
 */
export function describeInstall(name: string, outcome: Outcome, where: string): string {
  const lines: string[] = [];
  switch (outcome.status) {
    case 'committed':
      lines.push(`Installed service ${name} ${where}: user and group ${name}, ${outcome.steps.some((s) => s.type === 'linger.enable') ? 'linger on' : `running as ${name} in the system manager`}, config written, ${name}.service enabled and active.`);
      lines.push(describeOutcome(outcome));
      break;
    case 'rolled-back': {
      const undone = outcome.steps.filter((s) => s.status === 'undone' && !s.error).reverse();
      lines.push(`Installing service ${name} ${where} FAILED, and a rollback ran.`);
      lines.push(describeOutcome(outcome));
      if (undone.length) lines.push(`Undone, newest first: ${undone.map((s) => s.label ?? s.description).join(', ')}.`);
      lines.push('Result: rolled back — nothing of the install is left.');
      break;
    }
    case 'rollback-failed':
      lines.push(`Installing service ${name} ${where} FAILED, and the rollback that ran could NOT finish.`);
      lines.push(describeOutcome(outcome));
      lines.push('Result: rollback failed — the machine is partly changed until recovery finishes.');
      break;
    case 'refused':
      lines.push(`Service ${name} was not installed ${where}.`);
      lines.push(describeOutcome(outcome));
      break;
  }
  return lines.join('\n');
}

/**
 * Installs the service as one transaction: recovers an interrupted earlier
 * install first, then runs every phase; a failure in any phase undoes the
 * earlier ones, newest first, and the result says how that ended.
 *
 * @example
 * ```ts
 * const result = await install({ name: 'hello', ...sandboxTargets, manager, journalRoot, onEvent: renderProgress() });
 * console.log(result.message);
 * ```
 */
export async function install(options: InstallOptions): Promise<InstallResult> {
  validateName(options.name, { what: 'service name', pattern: /^[a-z_][a-z0-9_-]*$/, maxLength: 32 });
  const where = options.prefix ? `in the sandbox ${options.prefix}` : 'on this machine';
  const recoverCommand = options.recoverCommand ?? `unwind recover --root ${options.journalRoot}`;
  const recovered = await recoverInstall({ journalRoot: options.journalRoot, ...(options.loginctl ? { loginctl: options.loginctl } : {}), ...(options.extraKinds ? { extraKinds: options.extraKinds } : {}), ...(options.exec ? { exec: options.exec } : {}) });
  const notes = describeRecovery(recovered);

  const tx = transaction(`install service ${options.name}`, {
    journal: fileJournal({ root: options.journalRoot, ...(options.afterAppend ? { afterAppend: options.afterAppend } : {}) }),
    handleSignals: options.handleSignals ?? true,
    onThirdSignal: exitOnThirdSignal(process.stderr, recoverCommand),
    resumeHint: recoverCommand,
    meta: { service: options.name, ...(options.prefix ? { sandbox: options.prefix } : {}) },
    ...(options.exec ? { exec: options.exec } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const refusal = recoveryRefusal(recovered);
  if (refusal) return { status: 'refused', recovered, message: refusal.message, exitCode: refusal.exitCode };
  if (!recovered.ok) {
    // An earlier run is stuck: refuse rather than pile a second half-change on top.
    const message = [...notes, `Service ${options.name} was not installed ${where}: an earlier install is still unfinished. Fix the cause, then run: ${recoverCommand}`].join('\n');
    return { status: 'refused', recovered, message, exitCode: 4 };
  }
  // The group phase's result (its gid) owns the config file.
  let group: StepHandle<{ gid: number }> | undefined;
  const steps = installSteps(options, (get) => get(group!).gid);
  group = addSteps(tx, steps, options.inject)[0] as StepHandle<{ gid: number }>;
  const outcome = await tx.run();
  return { status: outcome.status, recovered, outcome, message: [...notes, describeInstall(options.name, outcome, where)].join('\n'), exitCode: exitCodeOf(outcome) };
}
