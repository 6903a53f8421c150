import * as fs from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  describeOutcome,
  exitCodeOf,
  fileJournal,
  recover,
  transaction,
  type AnyStepKind,
  type EventListener,
  type JournalRecord,
  type Outcome,
  type RecoveryReport,
  type Step,
  recoveryRefusal,
} from '@unwind/core';
import { addSteps, type TestHooks } from '@unwind/core/testing/helpers';
import { exitOnThirdSignal } from '@unwind/cli';
import { kinds as fileKinds, remove } from '@unwind/files';
import { INVENTORY, INVENTORY_NAMES, type InventoryGroup } from './inventory.js';
import { findCrossings } from './preflight.js';
import { serverStopped } from './server-check.js';

/**
 * Options of {@link uninstall}.
 *
 * @example
 * ```ts
 * const options: UninstallOptions = { stateDir: '/tmp/sb/home/user/.memtomem', journalRoot: '/tmp/sb/var/lib/unwind-uninstall', keepConfig: true };
 * ```
 */
export interface UninstallOptions extends TestHooks {
  /** The application's state directory (absolute). */
  stateDir: string;
  /** The journal root; must not lie inside the state directory. */
  journalRoot: string;
  /** Where the fresh staging directories are made. Default: the state directory's parent (same filesystem). */
  stagingDir?: string;
  /** Keep the configuration group. */
  keepConfig?: boolean;
  /** Keep memories, uploads and the database. */
  keepData?: boolean;
  /** Across filesystems, copy into staging then delete, instead of refusing. */
  allowCopy?: boolean;
  /** Plan only: say what would move, touch nothing. */
  dryRun?: boolean;
  /** Progress events (e.g. `renderProgress()`). */
  onEvent?: EventListener;
  /** How the person resumes a stuck rollback, quoted in messages. Default: `unwind recover --root <journalRoot>`. */
  recoverCommand?: string;
  /** Turn SIGINT/SIGTERM into a rollback. Default true. */
  handleSignals?: boolean;
}

/**
 * One group as planned: the paths that exist, and whether a keep flag exempts it.
 *
 * @example
 * ```ts
 * const g: PlannedGroup = { name: 'backups', description: 'backups', paths: ['/sb/.memtomem/backups'], kept: false };
 * ```
 */
export interface PlannedGroup {
  name: string;
  description: string;
  /** Absolute paths that exist now. */
  paths: string[];
  kept: boolean;
}

/**
 * How an uninstall ended.
 *
 * @example
 * ```ts
 * const result = await uninstall(options);
 * console.log(result.message);
 * process.exitCode = result.exitCode;
 * ```
 */
export interface UninstallResult {
  /** `refused`: nothing was touched (cross-filesystem staging, bad paths, an unfinished earlier run, the lock). */
  status: Outcome['status'] | 'nothing-to-do' | 'planned';
  /** What recovery of an earlier, interrupted run did first. */
  recovered: RecoveryReport;
  groups: PlannedGroup[];
  /** The transaction's outcome, when one ran. */
  outcome?: Outcome;
  /** Plain words for the person: what failed, that a rollback ran, how it ended. */
  message: string;
  exitCode: number;
}

/**
 * The kinds this program's journals may name.
 *
 * @example
 * ```ts
 * await recover({ root: journalRoot, kinds: uninstallKinds });
 * ```
 */
export const uninstallKinds: readonly AnyStepKind[] = [...fileKinds, serverStopped];

function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

function exists(path: string): boolean {
  try {
    fs.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The groups, with the paths that exist now, and which are kept.
 *
 * @example
 * ```ts
 * planGroups('/sb/.memtomem', { keepData: true }).filter((g) => !g.kept).map((g) => g.name);
 * ```
 */
export function planGroups(stateDir: string, flags: { keepConfig?: boolean; keepData?: boolean }): PlannedGroup[] {
  return INVENTORY.map((g: InventoryGroup) => ({
    name: g.name,
    description: g.description,
    paths: g.paths.map((p) => join(stateDir, p)).filter(exists),
    kept: g.keptBy !== undefined && flags[g.keptBy] === true,
  }));
}

/**
 * Finishes (or rolls back) an earlier uninstall that was interrupted. Safe to
 * run any time and twice; the uninstall itself runs it first.
 *
 * @example
 * ```ts
 * const report = await recoverUninstall({ journalRoot: '/var/lib/app/unwind' });
 * if (!report.ok) console.error('an earlier uninstall is still stuck');
 * ```
 */
export function recoverUninstall(options: { journalRoot: string; extraKinds?: readonly AnyStepKind[]; onEvent?: EventListener }): Promise<RecoveryReport> {
  return recover({ root: options.journalRoot, kinds: [...uninstallKinds, ...(options.extraKinds ?? [])], ...(options.onEvent ? { onEvent: options.onEvent } : {}) });
}

/**
 * One line per transaction recovery finished or found stuck, for the message.
 *
 * @example
 * ```ts
 * console.log(describeRecovery(await recoverUninstall({ journalRoot })).join('\n'));
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
          return `An interrupted uninstall (${t.id}) was found and rolled back first: everything it had staged is back in place.`;
        case 'committed':
          return `An interrupted uninstall (${t.id}) had already staged everything; its deletion was finished first.`;
        default:
          return `An earlier uninstall (${t.id}) is still unfinished (${t.result}${t.error ? `: ${t.error.message}` : ''}).`;
      }
    });
}

function refused(groups: PlannedGroup[], recovered: RecoveryReport, message: string): UninstallResult {
  return { status: 'refused', recovered, groups, message, exitCode: 4 };
}

/**
 * Uninstalls: recovers an interrupted earlier run, checks that staging stays
 * on one filesystem, then moves each group not kept into a fresh staging
 * directory (one `files.remove` step per group) and deletes only after every
 * group is staged. Any failure moves everything back.
 *
 * @example
 * ```ts
 * const result = await uninstall({ stateDir, journalRoot, keepConfig: true, onEvent: renderProgress() });
 * console.log(result.message);
 * ```
 */
export async function uninstall(options: UninstallOptions): Promise<UninstallResult> {
  const stateDir = resolve(options.stateDir);
  const journalRoot = resolve(options.journalRoot);
  const stagingDir = resolve(options.stagingDir ?? dirname(stateDir));
  const recoverCommand = options.recoverCommand ?? `unwind recover --root ${journalRoot}`;
  const empty: RecoveryReport = { transactions: [], ok: true, cleanupErrors: [] };

  if (isWithin(journalRoot, stateDir)) return refused([], empty, `Nothing was changed: the journal ${journalRoot} must not lie inside the state directory ${stateDir}.`);
  if (isWithin(stagingDir, stateDir)) return refused([], empty, `Nothing was changed: the staging directory ${stagingDir} must not lie inside the state directory ${stateDir}.`);

  // An earlier run that was killed half-way is finished or rolled back before anything else.
  const recovered = options.dryRun ? empty : await recoverUninstall({ journalRoot, ...(options.extraKinds ? { extraKinds: options.extraKinds } : {}) });
  const notes = describeRecovery(recovered);
  const refusal = recoveryRefusal(recovered);
  if (refusal) return { ...refused([], recovered, refusal.message), exitCode: refusal.exitCode };
  if (!recovered.ok) {
    return refused([], recovered, [...notes, `Nothing new was changed. Fix the cause, then run: ${recoverCommand}`].join('\n'));
  }

  const groups = planGroups(stateDir, options);
  const moving = groups.filter((g) => !g.kept && g.paths.length > 0);
  const keptNames = groups.filter((g) => g.kept).map((g) => g.name);
  if (!exists(stateDir)) return { status: 'nothing-to-do', recovered, groups, exitCode: 0, message: [...notes, `Nothing to do: ${stateDir} does not exist.`].join('\n') };
  if (moving.length === 0) return { status: 'nothing-to-do', recovered, groups, exitCode: 0, message: [...notes, `Nothing to do: no inventory to remove in ${stateDir}${keptNames.length ? ` (kept: ${keptNames.join(', ')})` : ''}.`].join('\n') };
  if (!exists(stagingDir) || !fs.statSync(stagingDir).isDirectory()) return refused(groups, recovered, `Nothing was changed: the staging location ${stagingDir} is not an existing directory.`);

  // The state directory itself goes last, and only when nothing is kept in it and it holds nothing unknown.
  const foreign = fs.readdirSync(stateDir).filter((name) => !INVENTORY_NAMES.has(name));
  const removeStateDir = keptNames.length === 0 && foreign.length === 0;

  const crossings = findCrossings(removeStateDir ? [stateDir] : moving.flatMap((g) => g.paths), stagingDir);
  const inner = crossings.filter((c) => c.innerMount);
  if (inner.length > 0) return refused(groups, recovered, `Nothing was moved: ${inner.map((c) => c.reason).join('; ')}. Unmount first; an uninstall never reaches into another filesystem.`);
  if (crossings.length > 0 && !options.allowCopy) {
    return refused(
      groups,
      recovered,
      [
        `Nothing was moved: the staging directory ${stagingDir} is on another filesystem than the state directory.`,
        ...crossings.map((c) => `  ${c.reason}`),
        'A move there would be a copy, not an atomic rename. Give --staging-dir on the same filesystem, or pass --allow-copy to copy then delete (slower; still put back on failure).',
      ].join('\n'),
    );
  }

  const tx = transaction(`uninstall ${stateDir}`, {
    journal: fileJournal({ root: journalRoot, ...(options.afterAppend ? { afterAppend: options.afterAppend } : {}) }),
    handleSignals: options.handleSignals ?? true,
    onThirdSignal: exitOnThirdSignal(process.stderr, recoverCommand),
    resumeHint: recoverCommand,
    meta: { stateDir, stagingDir, keepConfig: options.keepConfig === true, keepData: options.keepData === true },
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  // First, under the lock: a server still running (server.pid names a live process) refuses the whole uninstall.
  const programSteps: Array<{ label: string; step: Step<any, any, any> }> = [{ label: 'server', step: serverStopped({ stateDir }, { label: 'check the server is stopped' }) }];
  programSteps.push(...moving.map((g) => ({
    label: g.name,
    step: remove({ paths: g.paths, stagingDir, ...(options.allowCopy ? { allowCopy: true } : {}) }, { label: `stage ${g.description}` }),
  })));
  if (removeStateDir) programSteps.push({ label: 'state directory', step: remove({ paths: [stateDir], stagingDir, ...(options.allowCopy ? { allowCopy: true } : {}) }, { label: 'stage the emptied state directory' }) });
  addSteps(tx, programSteps.map(({ step }) => step), options.inject);

  if (options.dryRun) {
    const plan = await tx.plan();
    return {
      status: 'planned',
      recovered,
      groups,
      exitCode: 0,
      message: ['Would do (nothing was changed):', ...plan.map((p, i) => `  ${i + 1}. ${programSteps[i] && plan.length === programSteps.length ? `${programSteps[i]!.label}: ` : ''}${p.description}`), ...(keptNames.length ? [`Kept: ${keptNames.join(', ')}.`] : [])].join('\n'),
    };
  }

  const outcome = await tx.run();
  const prepareRefusal = refusedBeforeAnyChange(outcome);
  if (prepareRefusal) return { status: 'refused', recovered, groups, outcome, exitCode: 4, message: [...notes, `Refused: ${prepareRefusal}`, `Nothing was changed: ${stateDir} is exactly as before.`].join('\n') };
  return { status: outcome.status, recovered, groups, outcome, exitCode: exitCodeOf(outcome), message: [...notes, messageFor(outcome, { stateDir, stagingDir, moving, keptNames, foreign, removeStateDir, recoverCommand })].join('\n') };
}

/**
 * The refusal when a step's `prepare` refused before any step changed
 * anything (only the read-only server check may have run): the journal
 * records a rollback with nothing to undo, but for the person it is a
 * refusal, exit 4, not a rollback. A step that failed in `do` was started,
 * so it is undone, never left `failed`.
 */
function refusedBeforeAnyChange(outcome: Outcome): string | undefined {
  if (outcome.status !== 'rolled-back') return undefined;
  const failed = outcome.steps.find((s) => s.status === 'failed');
  const changed = outcome.steps.some((s) => s.type !== serverStopped.type && s.status !== 'not-started' && s.status !== 'failed');
  return failed && !changed && failed.undo === undefined ? failed.error?.message ?? outcome.cause.message : undefined;
}

interface MessageFacts {
  stateDir: string;
  stagingDir: string;
  moving: PlannedGroup[];
  keptNames: string[];
  foreign: string[];
  removeStateDir: boolean;
  recoverCommand: string;
}

function messageFor(outcome: Outcome, facts: MessageFacts): string {
  const lines = [describeOutcome(outcome)];
  switch (outcome.status) {
    case 'committed':
      lines.push(`Uninstalled: removed ${facts.moving.map((g) => g.description).join(', ')}.`);
      if (facts.removeStateDir) lines.push(`The state directory ${facts.stateDir} is gone.`);
      else {
        if (facts.keptNames.length) lines.push(`Kept in ${facts.stateDir}: ${facts.keptNames.join(', ')} (never moved).`);
        if (facts.foreign.length) lines.push(`${facts.stateDir} stays: it also holds files that are not part of the inventory (${facts.foreign.join(', ')}).`);
      }
      break;
    case 'rolled-back':
      lines.push(`Nothing was removed: every group that had been staged was moved back. ${facts.stateDir} is exactly as before.`);
      break;
    case 'rollback-failed': {
      const staging = stagingDirsOf(outcome, facts.stagingDir);
      lines.push(
        `Nothing is lost: what was not moved back is still in ${staging.length ? staging.join(', ') : `a staging directory under ${facts.stagingDir}`} (kept on purpose).`,
        `To recover: fix the cause above (for example remove what now stands at the original path), then run: ${facts.recoverCommand}`,
        // files.remove lists `mv -T` commands only when a move back itself failed (not when it refused to overwrite).
        `Running this uninstall again also finishes the rollback first.${describeOutcome(outcome).includes('mv -T') ? ' Or put the paths back by hand with the mv commands above.' : ''}`,
      );
      break;
    }
    case 'refused':
      break;
  }
  return lines.join('\n');
}

/** The staging directories a stuck rollback left: one per group not yet moved back (`files.remove` names them by transaction and step). */
function stagingDirsOf(outcome: Outcome & { status: 'rollback-failed' }, stagingDir: string): string[] {
  return outcome.remaining
    .filter((i) => outcome.steps[i]?.type === 'files.remove')
    .map((i) => join(stagingDir, `.unwind-staging-${outcome.transactionId}-${i}`))
    .filter(exists);
}
