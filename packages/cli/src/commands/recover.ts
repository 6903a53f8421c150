import { join } from 'node:path';
import { existsSync } from 'node:fs';
import {
  JOURNAL_FILE,
  LockHeldError,
  acquireLock,
  adoptReusedJournal,
  assertPrivateDirectory,
  analyzeRecords,
  listTransactionIds,
  readJournalFile,
  recover,
  serializeError,
  type Lock,
  type RecoveredTransaction,
  type SerializedError,
  type TransactionEvent,
} from '@unwind/core';
import { recoveryText } from '../describe.js';
import { CliError, EXIT } from '../errors.js';
import { formatDuration, plural } from '@unwind/progress';
import { errorDetails, errorLine, printable } from '../terminal-text.js';
import { loadKinds } from '../kinds.js';
import { checkRoot, checkTransactionArgument, describeErrno, findTransaction, resolveRoot } from '../root.js';
import { printJson, println, type CommandIO } from './context.js';

/** Options of `unwind recover`. */
export interface RecoverCommandOptions {
  root?: string;
  /** Modules exporting `kinds`, registered beside the installed adapters' kinds. */
  kinds?: string[];
  json?: boolean;
}

interface Result extends RecoveredTransaction {
  /** Steps undone in this run, newest first. */
  undone: number[];
}

/**
 * `unwind recover [TXID]`: completes every unfinished transaction (or one):
 * rolls it back, or finishes its commit actions. Exit 0 when everything is
 * finished now, 2 when a rollback or commit action still failed, 3 when a
 * live process holds the lock, 4 for bad input or a journal that cannot be
 * used (nothing touched).
 */
export async function recoverCommand(txid: string | undefined, options: RecoverCommandOptions, io: CommandIO): Promise<number> {
  const root = resolveRoot(options.root, io.env, io.cwd);
  if (txid !== undefined) checkTransactionArgument(txid);
  const s = io.style;
  const text = (...lines: string[]) => {
    if (!options.json) println(io.stdout, ...lines);
  };
  if (!checkRoot(root, true)) {
    if (txid !== undefined) throw new CliError(`no transaction "${txid}": journal root ${root} does not exist`, EXIT.badInput);
    if (options.json) printJson(io.stdout, { root, ok: true, exitCode: 0, transactions: [] });
    else text(`Nothing to recover: ${root} does not exist.`);
    return EXIT.ok;
  }
  // Before anything is read, loaded or locked: a root others can write is refused (exit 4).
  assertPrivateDirectory(root, 'journal root');
  const loaded = await loadKinds(options.kinds ?? [], io.cwd);
  let lock: Lock;
  try {
    lock = acquireLock(root, { purpose: 'unwind recover' });
  } catch (error) {
    if (error instanceof LockHeldError) {
      const h = error.holder;
      throw new CliError(
        `a running process holds the lock of ${root}: pid ${h.pid} on ${printable(h.host)} since ${printable(String(h.acquiredAt))}${h.purpose ? ` (${printable(h.purpose)})` : ''}. Nothing was touched; let it finish, then run recover again.`,
        EXIT.locked,
        { holder: h },
      );
    }
    throw new CliError(`cannot take the lock of ${root}: ${describeErrno((error as { cause?: unknown }).cause ?? error)}`, EXIT.badInput);
  }
  // The library reports a take-over and never prints; the command line says it, as it is the one that acts.
  if (lock.tookOverFrom) {
    const h = lock.tookOverFrom;
    println(io.stderr, `unwind: took over the stale lock ${lock.path} of dead process ${h.pid} on ${printable(h.host)} (held since ${printable(String(h.acquiredAt))})`);
  }
  const results: Result[] = [];
  try {
    // A journal a power cut left under the reusable directory's name is listed under its own again.
    adoptReusedJournal(root);
    const ids = txid !== undefined ? [findTransaction(root, txid)] : listTransactionIds(root);
    for (const id of ids) {
      const path = join(root, id, JOURNAL_FILE);
      let state;
      if (existsSync(path)) {
        try {
          // As recover() does: the transaction directory is checked before its journal is opened.
          assertPrivateDirectory(join(root, id), 'transaction directory');
          state = analyzeRecords(readJournalFile(path).records);
        } catch (error) {
          const e = serializeError(error);
          results.push({ id, name: 'unknown', result: 'error', steps: [], error: e, undone: [] });
          reportUnusable(io, id, e);
          continue;
        }
        if (state.ended) {
          if (txid !== undefined) text(`${printable(state.name)} (${id}) already finished: ${state.ended}. Nothing to do.`);
          results.push({ id, name: state.name, result: 'already-finished', steps: [], undone: [] });
          continue;
        }
        text(`${s.bold('Recovering')} ${s.bold(printable(state.name))} ${s.dim(id)}`, `  started ${formatDuration(io.now() - state.startedAt)} ago by pid ${printable(String(state.pid))}; it will ${recoveryText(state)}`);
      } else {
        text(`${s.bold('Cleaning up')} ${s.dim(id)}: it stopped before its journal was written, so nothing was changed and nothing needs undoing`);
      }
      const undone: number[] = [];
      const onEvent = (event: TransactionEvent) => {
        if (event.type === 'undo:done') undone.push(event.step);
        const line = eventLine(event, s);
        if (line) text(`  ${line}`);
      };
      const report = await recover({ root, kinds: loaded.kinds, transactionId: id, lock, onEvent });
      const result: Result = { ...report.transactions[0]!, undone };
      results.push(result);
      if (result.result === 'error') reportUnusable(io, id, result.error ?? { name: 'Error', message: 'unknown error' });
      else text(...resultLines(result, root, s));
    }
  } finally {
    lock.release();
  }
  const stuck = results.some((r) => r.result === 'rollback-failed' || r.result === 'commit-pending');
  const broken = results.some((r) => r.result === 'error');
  const exitCode = stuck ? EXIT.stuck : broken ? EXIT.badInput : EXIT.ok;
  if (options.json) {
    printJson(io.stdout, { root, ok: exitCode === 0, exitCode, kinds: { sources: loaded.sources, skipped: loaded.skipped }, transactions: results });
  } else {
    const acted = results.filter((r) => r.result !== 'already-finished');
    if (acted.length === 0 && txid === undefined) text(`Nothing to recover under ${root}.`);
    else if (acted.length > 1) text('', summary(results));
  }
  return exitCode;
}

/** A journal recovery cannot use: said on stderr, whatever the output format. */
function reportUnusable(io: CommandIO, id: string, error: SerializedError): void {
  println(io.stderr, `unwind: error: cannot recover ${id}; nothing was changed:`, ...indent(errorDetails(error)));
  const hint = hintFor(error);
  if (hint) println(io.stderr, `  ${hint}`);
}

function indent(lines: string[]): string[] {
  return lines.map((l) => `  ${l}`);
}

function hintFor(error: SerializedError): string {
  if (error.code === 'UNKNOWN_STEP_TYPE') return 'Install the package that provides that step type beside @unwind/cli, or pass --kinds MODULE (a module exporting `kinds`).';
  if (error.code === 'JOURNAL_CORRUPT') return 'The journal is damaged; inspect it before acting by hand.';
  return '';
}

function eventLine(event: TransactionEvent, s: CommandIO['style']): string | undefined {
  switch (event.type) {
    case 'undo:done':
      return `${s.green('undone')}         step ${event.step + 1}: ${printable(event.description)} (${formatDuration(event.durationMs)}${event.attempts > 1 ? `, ${event.attempts} attempts` : ''})`;
    case 'undo:failed':
      return `${s.red('undo failed')}    step ${event.step + 1}: ${printable(event.description)}: ${errorLine(event.error)}`;
    case 'commit:done':
      return `${s.green('committed')}      step ${event.step + 1}: ${printable(event.description)}`;
    case 'commit:failed':
      return `${s.red('commit failed')}  step ${event.step + 1}: ${printable(event.description)}: ${errorLine(event.error)}`;
    case 'step:retry':
      return `${s.yellow('attempt failed')} ${event.phase} of step ${event.step + 1}, attempt ${event.attempt}: ${errorLine(event.error)}`;
    default:
      return undefined;
  }
}

function resultLines(r: Result, root: string, s: CommandIO['style']): string[] {
  switch (r.result) {
    case 'rolled-back':
      return [`  ${s.green('Rolled back')}: ${plural(r.undone.length, 'step')} undone, newest first. What it had changed is taken back.`];
    case 'committed':
      return [`  ${s.green('Committed')}: the commit actions are finished.`];
    case 'already-finished':
      return [`  Already finished.`];
    case 'rollback-failed':
      return [`  ${s.red('Rollback still failed')}: ${errorLine(r.error)}`, `  Fix the cause, then run: unwind recover --root ${root} ${r.id}`];
    case 'commit-pending':
      return [`  ${s.red('Commit actions still pending')}: fix the cause, then run: unwind recover --root ${root} ${r.id}`];
    case 'error':
      return [];
  }
}

function summary(results: Result[]): string {
  const done = results.filter((r) => r.result === 'rolled-back' || r.result === 'committed').length;
  const stuck = results.filter((r) => r.result === 'rollback-failed' || r.result === 'commit-pending').length;
  const broken = results.filter((r) => r.result === 'error').length;
  const parts = [`${plural(done, 'transaction')} finished`];
  if (stuck) parts.push(`${stuck} still stuck`);
  if (broken) parts.push(`${broken} could not be used`);
  return `${parts.join(', ')}.`;
}
