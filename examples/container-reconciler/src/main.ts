/**
 * container-reconciler: reconcile a desired state of containers (systemd
 * units or Quadlet files, from a directory or a git repository, with
 * quadlet-deploy's transforms) to dedicated users and their units.
 *
 *   container-reconciler [sync] (--desired DIR | --repository URL [--branch NAME] [--checkout DIR]) --state DIR
 *        [--transforms DIR] [--group NAME] [--privilege-group NAME] [--sudoers FILE] [--marker TEXT]
 *        [--prefix ROOT] [--deny a,b] [--allow-dir NAME]... [--linger-dir DIR] [--loginctl PROG]
 *        [--systemctl PROG] [--generator-dir DIR]... [--timeout MS] [--settle MS]
 *        [--shared-unit-dir DIR --shared-home DIR --shared-runtime-dir DIR] [--json]
 *   container-reconciler install-units [--unit-name NAME] [--on-boot SPAN] [--interval SPAN] SYNC-OPTIONS...
 *   container-reconciler recover --state DIR [--prefix ROOT] [--loginctl PROG] [--systemctl PROG]
 *   container-reconciler sandbox [--sandbox DIR] [--settle MS] [--json]
 *   container-reconciler sandbox --quadlet [--sandbox DIR]
 *
 * Exit codes: 0 converged (or installed, or recovered); 1 a container (or the fetch, or the
 * install) failed and was rolled back; 2 a rollback did not finish (the report says how to
 * resume); 3 another run holds the lock; 4 invalid input, nothing changed.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { LockHeldError, UnwindError, exitCodeOfRecovery, recoveryRefusal } from '@unwind/core';
import { DesiredFetchError } from './fetch-under-lock.js';
import { installOwnUnits } from './install-own-units.js';
import { reconcileContainers, recoverContainers, type ReconcilerConfig } from './reconciler.js';
import { formatReport, refusal } from './report.js';
import { printable, printableData } from '@unwind/progress';
import { jsonText, runSandbox } from './run-sandbox.js';

/**
 * A command line that cannot be run: an unknown option, a missing one, a
 * bad value. Code USAGE; exit 4, nothing changed.
 *
 * @example
 * ```ts
 * try { configFrom([]); } catch (error) { if (error instanceof UsageError) console.error(error.message); }
 * ```
 */
export class UsageError extends UnwindError<'USAGE'> {
  constructor(message: string) {
    super('USAGE', message, { context: {} });
  }
}

const SYNC_OPTIONS = {
  desired: { type: 'string' },
  repository: { type: 'string' },
  branch: { type: 'string' },
  checkout: { type: 'string' },
  transforms: { type: 'string' },
  state: { type: 'string' },
  prefix: { type: 'string' },
  deny: { type: 'string' },
  'allow-dir': { type: 'string', multiple: true },
  group: { type: 'string' },
  'privilege-group': { type: 'string' },
  sudoers: { type: 'string' },
  marker: { type: 'string' },
  'linger-dir': { type: 'string' },
  loginctl: { type: 'string' },
  systemctl: { type: 'string' },
  'generator-dir': { type: 'string', multiple: true },
  timeout: { type: 'string' },
  settle: { type: 'string' },
  'shared-unit-dir': { type: 'string' },
  'shared-home': { type: 'string' },
  'shared-runtime-dir': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** A whole number of milliseconds from an option, or a {@link UsageError}. */
function milliseconds(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${option} needs a whole number of milliseconds, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * Parses the sync command line into a config (without `exec`); throws
 * {@link UsageError} for a bad one. `needDesired` false: no desired state
 * is needed (recovery).
 *
 * @example
 * ```ts
 * configFrom(['--desired', '/srv/desired', '--state', '/var/lib/cr', '--deny', 'admin']).config.deny; // ['admin']
 * ```
 */
export function configFrom(argv: string[], needDesired = true): { config: ReconcilerConfig; json: boolean } {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: SYNC_OPTIONS, strict: true }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!values.state || (needDesired && !values.desired && !values.repository)) throw new UsageError('--state DIR and --desired DIR (or --repository URL) are required');
  if (values.repository && values.desired) throw new UsageError('--desired and --repository exclude each other (--checkout DIR says where the repository is checked out)');
  if (!values.repository && (values.branch || values.checkout)) throw new UsageError('--branch and --checkout need --repository');
  const timeout = milliseconds('timeout', values.timeout);
  const settle = milliseconds('settle', values.settle);
  const absolute = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
  const config: ReconcilerConfig = {
    stateDir: absolute(values.state)!,
    ...(values.desired ? { desiredDir: absolute(values.desired)! } : {}),
    ...(values.repository ? { repository: values.repository } : {}),
    ...(values.branch ? { branch: values.branch } : {}),
    ...(values.checkout ? { desiredDir: absolute(values.checkout)! } : {}),
    ...(values.transforms ? { transformsDir: absolute(values.transforms)! } : {}),
    ...(values.prefix ? { prefix: absolute(values.prefix)! } : {}),
    ...(values.deny ? { deny: values.deny.split(',').filter(Boolean) } : {}),
    ...(values['allow-dir'] ? { allowedDirs: values['allow-dir'] } : {}),
    ...(values.group ? { group: values.group } : {}),
    ...(values['privilege-group'] ? { privilegeGroup: values['privilege-group'] } : {}),
    ...(values.sudoers ? { sudoers: absolute(values.sudoers)! } : {}),
    ...(values.marker ? { marker: values.marker } : {}),
    ...(values['linger-dir'] ? { lingerDir: absolute(values['linger-dir'])! } : {}),
    ...(values.loginctl ? { loginctl: values.loginctl } : {}),
    ...(values.systemctl ? { systemSystemctl: values.systemctl } : {}),
    ...(values['generator-dir'] ? { generatorDirs: values['generator-dir'].map((d) => resolve(d)) } : {}),
    ...(timeout !== undefined ? { commandTimeoutMs: timeout } : {}),
    ...(settle !== undefined ? { settleMs: settle } : {}),
    ...(values['shared-unit-dir']
      ? { target: { kind: 'shared' as const, manager: { scope: 'user' as const, unitDir: values['shared-unit-dir'], ...(values['shared-home'] ? { home: values['shared-home'] } : {}), ...(values['shared-runtime-dir'] ? { runtimeDir: values['shared-runtime-dir'] } : {}) } } }
      : {}),
  };
  return { config, json: values.json === true };
}

/** Splits `install-units`' own options from the sync options it installs. */
function installFrom(argv: string[]): { unit: { name?: string; onBootSec?: string; interval?: string }; sync: string[] } {
  const own = new Map([['--unit-name', 'name'], ['--on-boot', 'onBootSec'], ['--interval', 'interval']] as const);
  const unit: { name?: string; onBootSec?: string; interval?: string } = {};
  const sync: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const key = own.get(argv[i] as '--unit-name');
    if (!key) {
      sync.push(argv[i]!);
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new UsageError(`${argv[i - 1]} needs a value`);
    unit[key] = value;
  }
  return { unit, sync };
}

/** The options whose values are paths: made absolute for the service, which runs from `/`. */
const PATH_OPTIONS = new Set(['--desired', '--checkout', '--transforms', '--state', '--prefix', '--sudoers', '--linger-dir', '--generator-dir', '--shared-unit-dir', '--shared-home', '--shared-runtime-dir']);

/**
 * The sync options with every path made absolute (`--state x` and
 * `--state=x` alike), for the service `install-units` installs (it runs from `/`).
 *
 * @example
 * ```ts
 * absolutePaths(['--state', 'state', '--group=g']); // ['--state', `${process.cwd()}/state`, '--group=g']
 * ```
 */
export function absolutePaths(argv: readonly string[]): string[] {
  const result: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const [name, value] = word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word, undefined];
    if (!PATH_OPTIONS.has(name)) result.push(word);
    else if (value !== undefined) result.push(`${name}=${resolve(value)}`);
    else if (i + 1 < argv.length) result.push(word, resolve(argv[++i]!));
    else result.push(word);
  }
  return result;
}

/** How this program is started again by its own service: node, tsx (when run from source), this file. */
function thisProgram(): string[] {
  const file = fileURLToPath(import.meta.url);
  return file.endsWith('.ts') ? [process.execPath, '--import', import.meta.resolve('tsx'), file] : [process.execPath, file];
}

/**
 * Runs one command line; returns the exit code. Every error ends in plain
 * words and an exit code, never a stack trace. `hooks` is for tests only
 * (the crash tests SIGKILL the command line after a chosen journal record, the
 * failure tests put a failing step after a container's Nth step).
 *
 * @example
 * ```ts
 * process.exitCode = await main(['--desired', '/srv/desired', '--state', '/var/lib/cr']);
 * ```
 */
export async function main(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error, hooks: Pick<ReconcilerConfig, 'afterAppend' | 'inject'> = {}): Promise<number> {
  // Messages quote desired-state file names, a generator's stderr, journal errors: every line escaped for the terminal.
  out = terminalLines(out);
  err = terminalLines(err);
  const [first, ...rest] = argv;
  const command = first === 'sync' || first === 'install-units' || first === 'recover' || first === 'sandbox' ? first : 'sync';
  const args = command === 'sync' && first !== 'sync' ? argv : rest;
  try {
    if (command === 'recover') {
      const { config } = configFrom(args, false);
      const report = await recoverContainers(config);
      const refusal = recoveryRefusal(report);
      if (refusal) {
        err(`container-reconciler: ${refusal.message}`);
        return refusal.exitCode;
      }
      const lines = report.transactions.filter((t) => t.result !== 'already-finished').map((t) => printable(`${t.name} (${t.id}): ${t.result}${t.error ? `: ${t.error.message}` : ''}`));
      out(lines.length > 0 ? lines.join('\n') : 'Nothing to recover: no unfinished transaction.');
      return exitCodeOfRecovery(report);
    }
    if (command === 'sandbox') return await runSandbox(rest, out, err);
    if (command === 'install-units') {
      const { unit, sync } = installFrom(args);
      const { config } = configFrom(sync);
      const outcome = await installOwnUnits({ ...unit, command: [...thisProgram(), 'sync', ...absolutePaths(sync)], stateDir: config.stateDir });
      out(outcome.message);
      return outcome.exitCode;
    }
    const parsed = configFrom(args);
    const report = await reconcileContainers({ ...parsed.config, ...hooks });
    // Refused before the run took its lock (another run holds it, or the journal root cannot be used): one line, no report.
    if (report.cause && !parsed.json) {
      err(`container-reconciler: ${refusal(report.cause)}; nothing was changed`);
      return report.exitCode;
    }
    out(parsed.json ? jsonText(report) : formatReport(printableData(report)));
    return report.exitCode;
  } catch (error) {
    return answer(error, err);
  }
}

/** `write`, with each line of what it is given passed through {@link printable}. */
function terminalLines(write: (line: string) => void): (line: string) => void {
  return (text) => write(String(text).split('\n').map(printable).join('\n'));
}

/** The plain words and exit code of an error that ended a run. */
function answer(error: unknown, err: (line: string) => void): number {
  if (error instanceof LockHeldError) {
    const h = error.holder;
    err(`container-reconciler: another run holds the lock (pid ${h.pid} on ${h.host}, since ${h.acquiredAt}${h.purpose ? `, ${h.purpose}` : ''}); nothing was changed`);
    return 3;
  }
  if (error instanceof UsageError || (error instanceof UnwindError && error.code === 'INVALID_INPUT')) {
    err(`container-reconciler: ${error.message}; nothing was changed`);
    return 4;
  }
  if (error instanceof DesiredFetchError) {
    err(`container-reconciler: ${error.message}`);
    return 1;
  }
  if (error instanceof UnwindError) {
    err(`container-reconciler: ${error.code}: ${error.message}`);
    return 1;
  }
  // Not one of ours: still plain words (the stack only with DEBUG set).
  err(`container-reconciler: unexpected error: ${(error as Error)?.message ?? String(error)}${process.env.DEBUG ? `\n${(error as Error)?.stack ?? ''}` : ''}`);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main(process.argv.slice(2));
