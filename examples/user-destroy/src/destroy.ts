import * as fs from 'node:fs';
import { join } from 'node:path';
import {
  describeOutcome,
  exitCodeOf,
  fileJournal,
  recover,
  transaction,
  validateName,
  type AnyStepKind,
  type CommandRunner,
  type EventListener,
  type JournalRecord,
  type Outcome,
  type RecoveryReport,
  type Step,
  recoveryRefusal,
  decodeInput,
  logger,
  runCommand,
  type BlobStore,
} from '@unwind/core';
import { addSteps, type TestHooks } from '@unwind/core/testing/helpers';
import { exitOnThirdSignal } from '@unwind/cli';
import { kinds as snapshotKinds, snapshot } from '@unwind/snapshots';
import { lookupUser, ProtectedUserError, removeUser, uidMin, kinds as usersKinds, validateUserName } from '@unwind/users';
import { destroyAsUser, kinds as ownKinds } from './steps.js';

/**
 * Options of {@link destroyUser}.
 *
 * @example
 * ```ts
 * const options: DestroyOptions = { user: 'alice', app: 'example-app', destroyCommand: ['/tmp/sb/usr/local/bin/example-app', 'destroy'], prefix: '/tmp/sb', journalRoot: '/tmp/sb/var/lib/unwind-user-destroy' };
 * ```
 */
export interface DestroyOptions extends TestHooks {
  /** The account to delete. */
  user: string;
  /** The application's name (messages; the default snapshot scope is `~/.config/<app>` and `~/.local/share/<app>`). */
  app: string;
  /** The application's own destroy command (argv), run as the user with HOME set, e.g. `['/usr/local/bin/sys', 'destroy']`. */
  destroyCommand: string[];
  /** What the destroy command touches, relative to the home: each is snapshotted first and restored on rollback. Default `.config/<app>`, `.local/share/<app>`. */
  snapshotPaths?: string[];
  /** Stop the user's manager and processes before userdel (TERM, grace, KILL). Default true; false: userdel fails while they run. */
  stopProcesses?: boolean;
  /** A prefix root (the sandbox); omitted: the machine. */
  prefix?: string;
  /** The linger directory. Default PREFIX/var/lib/systemd/linger. */
  lingerDir?: string;
  journalRoot: string;
  /** Also delete the home directory (staged; deleted for good only once everything else held). Default false, like userdel. */
  removeHome?: boolean;
  /** Time between TERM and KILL for the user's processes, ms. Default 5000. */
  graceMs?: number;
  /** Retries of a transient account deletion failure (userdel exit 8: user busy). Default 3. */
  retries?: number;
  /** First delay between retries, ms (then doubled). Default 1000. */
  retryDelayMs?: number;
  onEvent?: EventListener;
  /** Turn SIGINT/SIGTERM into a rollback. Default true. */
  handleSignals?: boolean;
  /** Command runner for every step (tests and `--simulate-busy` wrap it). */
  exec?: CommandRunner;
  recoverCommand?: string;
}

/**
 * How a destroy ended.
 *
 * @example
 * ```ts
 * const result = await destroyUser(options);
 * console.log(result.message);
 * ```
 */
export interface DestroyResult {
  status: Outcome['status'];
  recovered: RecoveryReport;
  /** Absent when nothing ran (no such user, or an earlier run is stuck). */
  outcome?: Outcome;
  /** The snapshotted paths on disk (those of the scope that existed). */
  snapshotted?: string[];
  message: string;
  exitCode: number;
}

/**
 * Every kind a user-destroy journal may name.
 *
 * @example
 * ```ts
 * await recover({ root: journalRoot, kinds: destroyKinds });
 * ```
 */
export const destroyKinds: readonly AnyStepKind[] = [...snapshotKinds, ...usersKinds, ...ownKinds];

/**
 * Finishes (or rolls back) an interrupted destroy. Safe any time, and twice; {@link destroyUser} runs it first.
 *
 * @example
 * ```ts
 * const report = await recoverDestroy({ journalRoot: '/var/lib/unwind-user-destroy' });
 * ```
 */
export function recoverDestroy(options: { journalRoot: string; extraKinds?: readonly AnyStepKind[]; exec?: CommandRunner; onEvent?: EventListener }): Promise<RecoveryReport> {
  return recover({
    root: options.journalRoot,
    kinds: [...destroyKinds, ...(options.extraKinds ?? [])],
    ...(options.exec ? { exec: options.exec } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
}

/**
 * One line per transaction recovery finished.
 *
 * @example
 * ```ts
 * console.log(describeRecovery(await recoverDestroy({ journalRoot })).join('\n'));
 * ```
 */
export function describeRecovery(report: RecoveryReport): string[] {
  const refusal = recoveryRefusal(report); // another live run holds the lock, or recovery could not start
  if (refusal) return [refusal.message];
  return report.transactions
    .filter((t) => t.result !== 'already-finished')
    .map((t) =>
      t.result === 'rolled-back'
        ? `An interrupted destroy (${t.id}) was found and rolled back first: the user and their state are back.`
        : t.result === 'committed'
          ? `An interrupted destroy (${t.id}) had passed its commit point; its clean-up was finished first.`
          : `An earlier destroy (${t.id}) is still unfinished (${t.result}${t.error ? `: ${t.error.message}` : ''}).`,
    );
}

/**
 * Plain words: what failed, that a rollback ran, how it ended — and that the user still has their state.
 *
 * @example
 * ```ts
 * console.error(describeDestroy('alice', ['/home/alice/.config/syslua'], outcome, 'on this machine', ['sys', 'destroy']));
 * ```
 */
export function describeDestroy(user: string, snapshotted: string[], outcome: Outcome, where: string, command: string[]): string {
  const lines: string[] = [];
  const failed = outcome.steps.find((s) => s.error);
  switch (outcome.status) {
    case 'committed':
      lines.push(`Deleted user ${user} ${where}, after running their destroy command (${command.join(' ')}) as them.`);
      lines.push(describeOutcome(outcome));
      break;
    case 'rolled-back': {
      lines.push(`Destroying user ${user} ${where} FAILED, and a rollback ran.`);
      lines.push(describeOutcome(outcome));
      if (failed?.error?.code === 'USER_BUSY') lines.push(`The account could not be deleted: it stayed busy after ${failed.attempts} attempt${failed.attempts === 1 ? '' : 's'} (userdel exit 8, processes still running).`);
      const undone = outcome.steps.filter((s) => s.status === 'undone' && !s.error).reverse();
      if (undone.length) lines.push(`Undone, newest first: ${undone.map((s) => s.label ?? s.description).join(', ')}.`);
      lines.push(`Result: rolled back — user ${user} exists with all of their state${snapshotted.length ? ` (${snapshotted.join(', ')} restored from the snapshots taken first)` : ''}.`);
      break;
    }
    case 'rollback-failed':
      lines.push(`Destroying user ${user} ${where} FAILED, and the rollback that ran could NOT finish.`);
      lines.push(describeOutcome(outcome));
      lines.push('Result: rollback failed — the snapshot of the managed state is kept in the journal until recovery restores it.');
      break;
    case 'refused':
      lines.push(`User ${user} was not touched ${where}.`);
      lines.push(describeOutcome(outcome));
      break;
  }
  return lines.join('\n');
}

/**
 * Destroys a user's managed state, then deletes the account — as one
 * transaction. First a verified snapshot of every path the application's
 * destroy command touches (relative to the home from the user database);
 * then that command runs as the user; then the user's processes are stopped
 * (TERM, grace, KILL; unless `stopProcesses: false`) and the account deleted, with
 * retries while userdel says the user is busy. If the account still cannot
 * go, the rollback brings it back exactly and restores the state from the
 * snapshot: never a user whose state is gone.
 *
 * @example
 * ```ts
 * const result = await destroyUser({ user: 'alice', app: 'syslua', destroyCommand: ['/usr/local/bin/sys', 'destroy'], snapshotPaths: ['.syslua', '.config/syslua'], journalRoot: '/var/lib/unwind-user-destroy' });
 * console.log(result.message);
 * ```
 */
export async function destroyUser(options: DestroyOptions): Promise<DestroyResult> {
  validateUserName(options.user);
  validateName(options.app, { what: 'application name', pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, maxLength: 64 });
  const where = options.prefix ? `in the sandbox ${options.prefix}` : 'on this machine';
  const recoverCommand = options.recoverCommand ?? `unwind recover --root ${options.journalRoot}`;
  const recovered = await recoverDestroy({ journalRoot: options.journalRoot, ...(options.extraKinds ? { extraKinds: options.extraKinds } : {}), ...(options.exec ? { exec: options.exec } : {}) });
  const notes = describeRecovery(recovered);
  const refusal = recoveryRefusal(recovered);
  if (refusal) return { status: 'refused', recovered, exitCode: refusal.exitCode, message: refusal.message };
  if (!recovered.ok) {
    return { status: 'refused', recovered, exitCode: 4, message: [...notes, `User ${options.user} was not touched: an earlier destroy is still unfinished. Fix the cause, then run: ${recoverCommand}`].join('\n') };
  }

  // The home comes from the user database (the prefix's passwd in the sandbox), never a guess at /home.
  const entry = await lookupUser(options.user, { ...(options.prefix ? { prefix: options.prefix } : {}), ...(options.exec ? { exec: options.exec } : {}) });
  if (!entry) return { status: 'refused', recovered, exitCode: 4, message: [...notes, `User ${options.user} does not exist ${where}; nothing was changed.`].join('\n') };
  // Root and system accounts are never destroyed: refused here, before the snapshot and the destroy
  // (removeUser refuses them too, but only once the earlier steps have run).
  const min = uidMin(options.prefix);
  if (entry.uid === 0 || entry.uid < min) {
    return { status: 'refused', recovered, exitCode: 4, message: [...notes, `User ${options.user} is protected (${entry.uid === 0 ? 'uid 0' : `a system account: uid ${entry.uid} is below UID_MIN ${min}`}); nothing was changed.`].join('\n') };
  }
  if (!entry.home.startsWith('/')) return { status: 'refused', recovered, exitCode: 4, message: `User ${options.user} has no absolute home directory (${JSON.stringify(entry.home)}); nothing was changed.` };
  const home = join(options.prefix ?? '/', entry.home);
  const scope = options.snapshotPaths ?? [join('.config', options.app), join('.local', 'share', options.app)];
  for (const rel of scope) {
    if (rel.startsWith('/') || rel.split('/').some((p) => p === '..' || p === '') ) {
      return { status: 'refused', recovered, exitCode: 4, message: `The snapshot path ${JSON.stringify(rel)} must be relative to the home, without "..": nothing was changed.` };
    }
  }
  // Only what exists can be snapshotted; a path the command touches that does not exist yet has nothing to restore.
  const snapshotted = scope.map((rel) => join(home, rel)).filter((p) => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined);

  const tx = transaction(`destroy user ${options.user}`, {
    journal: fileJournal({ root: options.journalRoot, ...(options.afterAppend ? { afterAppend: options.afterAppend } : {}) }),
    handleSignals: options.handleSignals ?? true,
    onThirdSignal: exitOnThirdSignal(process.stderr, recoverCommand),
    resumeHint: recoverCommand,
    meta: { user: options.user, app: options.app, ...(options.prefix ? { sandbox: options.prefix } : {}) },
    ...(options.exec ? { exec: options.exec } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const removal = removeUser(
    {
      name: options.user,
      ...(options.prefix ? { prefix: options.prefix } : {}),
      ...(options.lingerDir ? { lingerDir: options.lingerDir } : {}),
      removeHome: options.removeHome ?? false,
      stopProcesses: options.stopProcesses ?? true,
      graceMs: options.graceMs ?? 5000,
    },
    { label: 'stop the processes and delete the account', retry: { do: { retries: options.retries ?? 3, minTimeout: options.retryDelayMs ?? 1000 } } },
  );
  // Every refusal of removeUser (a member of sudo, wheel, docker or adm, a privileged primary group, uid above
  // UID_MAX, a locked database, a home it may not move...) comes from its prepare, which runs only once the
  // snapshot and the destroy command have. Its prepare reads and changes nothing: run it here first, so such
  // an account is refused with nothing touched (exit 4), as the uid check above does.
  const refusedRemoval = await removalRefusal(removal, options.exec ?? runCommand);
  if (refusedRemoval) return { status: 'refused', recovered, exitCode: 4, message: [...notes, `User ${options.user} ${refusedRemoval}; nothing was changed.`].join('\n') };

  const steps: Array<Step<any, any, any>> = [];
  // In the journal (no store): deleted when the transaction commits, kept while it is unfinished.
  for (const path of snapshotted) steps.push(snapshot({ path }, { label: `snapshot of ${path}` }));
  steps.push(destroyAsUser({ argv: options.destroyCommand, user: options.user, home, uid: entry.uid, gid: entry.gid }, { label: 'run the destroy command as the user' }));
  steps.push(removal);
  addSteps(tx, steps, options.inject);
  const outcome = await tx.run();
  return {
    status: outcome.status,
    recovered,
    outcome,
    snapshotted,
    message: [...notes, ...(snapshotted.length ? [] : [`Nothing of ${scope.join(', ')} exists in ${home}: no snapshot is taken.`]), describeDestroy(options.user, snapshotted, outcome, where, options.destroyCommand)].join('\n'),
    exitCode: exitCodeOf(outcome),
  };
}

/** A check gets no blob directory: removeUser's prepare keeps nothing. */
const noBlobs: BlobStore = {
  write: () => Promise.reject(new Error('the removal check keeps no blobs')),
  read: () => Promise.reject(new Error('the removal check keeps no blobs')),
  has: () => Promise.resolve(false),
  directory: () => Promise.reject(new Error('the removal check keeps no blobs')),
};

/**
 * Why the account removal would be refused, in words that follow "User
 * NAME", or undefined when it would go ahead: the step's own validate and
 * prepare, run outside any transaction (prepare only reads: the user and
 * group databases, the home, the linger file), so the rules are exactly
 * removeUser's and nothing runs before they pass.
 */
async function removalRefusal(step: Step<any, any, any>, exec: CommandRunner): Promise<string | undefined> {
  const definition = step.kind.definition;
  try {
    const args = decodeInput(definition.args, step.args, 'the account removal has invalid arguments');
    definition.validate?.(args);
    await definition.prepare(args, { signal: new AbortController().signal, exec, log: logger('user-destroy'), blobs: noBlobs, transactionId: 'check', stepIndex: 0, attempt: 1, phase: 'plan' });
    return undefined;
  } catch (error) {
    if (error instanceof ProtectedUserError) return `is protected (${String(error.context.reason)})`;
    return `cannot be deleted: ${(error as Error).message}`;
  }
}
