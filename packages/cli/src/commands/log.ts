import { join } from 'node:path';
import { JOURNAL_FILE, analyzeRecords, readJournalFile, readLock, type JournalRecord, type TransactionState } from '@unwind/core';
import { recoveryText } from '../describe.js';
import { CliError, EXIT } from '../errors.js';
import { formatDuration, plural } from '@unwind/progress';
import { errorDetails, errorLine, printable, printableData } from '../terminal-text.js';
import { checkRoot, describeErrno, findTransaction, resolveRoot } from '../root.js';
import type { Styler } from '@unwind/progress';
import { printJson, println, type CommandIO } from './context.js';

/** Options of `unwind log`. */
export interface LogOptions {
  root?: string;
  json?: boolean;
}

/**
 * `unwind log TXID`: a transaction's timeline for a person (steps, durations,
 * attempts, the failure, each undo), or its state and records as JSON.
 */
export async function logCommand(txid: string, options: LogOptions, io: CommandIO): Promise<number> {
  const root = resolveRoot(options.root, io.env, io.cwd);
  if (!checkRoot(root)) throw new CliError(`no transaction "${txid}": journal root ${root} does not exist`, EXIT.badInput);
  const id = findTransaction(root, txid);
  const path = join(root, id, JOURNAL_FILE);
  let contents;
  try {
    contents = readJournalFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E')) throw new CliError(`cannot read ${path}: ${describeErrno(error)}`, EXIT.badInput);
    throw new CliError((error as Error).message, EXIT.badInput);
  }
  const analyzed = analyzeRecords(contents.records, contents.tornTail);
  if (options.json) {
    const { records, ...rest } = analyzed;
    printJson(io.stdout, { path, ...rest, records });
    return EXIT.ok;
  }
  // Every string in it escaped: a planted journal's checksums are valid whatever its fields hold, and a
  // field the timeline prints as a number (a pid, a step, a count) may be a string of terminal commands.
  const state = printableData(analyzed);
  const s = io.style;
  const lock = readLock(root);
  const running = !state.ended && lock?.alive === true && lock.pid === analyzed.pid && lock.host === analyzed.host;
  println(
    io.stdout,
    `${s.bold('Transaction')}  ${s.bold(printable(state.name))}`,
    `${s.bold('Id')}           ${id}`,
    `${s.bold('Journal')}      ${path}`,
    `${s.bold('Started')}      ${Number.isFinite(state.startedAt) ? new Date(state.startedAt).toISOString() : 'unknown'} by pid ${state.pid} on ${printable(state.host)}`,
    `${s.bold('Outcome')}      ${outcomeText(state, running, s)}`,
  );
  if (state.meta) println(io.stdout, `${s.bold('Meta')}         ${printable(JSON.stringify(state.meta))}`);
  println(io.stdout, '');
  const descriptions = new Map(state.steps.map((x) => [x.index, x.description]));
  let previous: JournalRecord | undefined;
  for (const record of state.records) {
    const offset = `+${formatDuration(record.at - state.startedAt)}`.padStart(10);
    const gap = previous && record.at - previous.at > 60_000 ? `${' '.repeat(10)}  ${s.dim(`… ${formatDuration(record.at - previous.at)} later`)}` : undefined;
    if (gap) println(io.stdout, gap);
    const [line, ...details] = recordLines(record, previous, descriptions, s);
    println(io.stdout, `${s.dim(offset)}  ${line}`, ...details.map((d) => `${' '.repeat(10)}      ${d}`));
    previous = record;
  }
  if (state.tornTail) println(io.stdout, `${' '.repeat(10)}  ${s.yellow('(a torn last record, cut short by a crash, is ignored)')}`);
  return EXIT.ok;
}

function outcomeText(state: TransactionState, running: boolean, s: Styler): string {
  const took = formatDuration(state.lastAt - state.startedAt);
  if (state.ended === 'committed') return `${s.green('committed')} (${took})`;
  if (state.ended === 'rolled-back') return `${s.blue('rolled back')} (${took})${state.rollbackReason ? `: ${errorLine(state.rollbackReason)}` : ''}`;
  if (running) return `${s.cyan('running')} (pid ${state.pid} holds the lock)`;
  const stuck = state.rollbackFailed ? `${s.red('stuck: the rollback failed')}` : `${s.yellow('unfinished')}`;
  return `${stuck}; recovery would ${recoveryText(state)}`;
}

function recordLines(r: JournalRecord, previous: JournalRecord | undefined, descriptions: Map<number, string>, s: Styler): string[] {
  const since = previous ? r.at - previous.at : 0;
  const step = (i: number) => `step ${i + 1}`;
  const desc = (i: number) => printable(descriptions.get(i) ?? '?');
  const errorBlock = (e: Parameters<typeof errorDetails>[0]) => errorDetails(e);
  switch (r.kind) {
    case 'begin':
      return [`begin "${printable(r.name)}" (journal format ${r.format})`];
    case 'prepared':
      return [`${step(r.step)} prepared: ${printable(r.description)} ${s.dim(`[${printable(r.type)}]`)}`];
    case 'done':
      return [`${step(r.step)} ${s.green('done')} in ${formatDuration(since)} (${plural(r.attempts, 'attempt')})`];
    case 'verified':
      return [`${step(r.step)} verified (${formatDuration(since)})`];
    case 'failed':
      return [`${step(r.step)} ${s.red('failed')} after ${plural(r.attempts, 'attempt')} (${formatDuration(since)}): ${desc(r.step)}`, ...errorBlock(r.error)];
    case 'commit-point':
      return [s.bold('commit point: from here on the changes stay')];
    case 'commit-done':
      return [`${step(r.step)} commit action done (${formatDuration(since)}): ${desc(r.step)}`];
    case 'commit-failed':
      return [`${step(r.step)} ${s.red('commit action failed')}: ${desc(r.step)}`, ...errorBlock(r.error)];
    case 'committed':
      return [s.green('committed')];
    case 'rollback':
      return [`${s.yellow(r.reason.name === 'Recovery' ? 'rollback by recovery' : 'rollback')}: ${errorLine(r.reason)}`];
    case 'undone':
      return [`${step(r.step)} ${s.blue('undone')} in ${formatDuration(since)} (${plural(r.attempts, 'attempt')}): ${desc(r.step)}`];
    case 'undo-failed':
      return [`${step(r.step)} ${s.red('undo failed')} after ${plural(r.attempts, 'attempt')}: ${desc(r.step)}`, ...errorBlock(r.error)];
    case 'rollback-failed':
      return [`${s.red('rollback failed')}: not undone yet: ${r.remaining.map((i) => step(i)).join(', ')}`];
    case 'end':
      return [`end: ${r.status === 'committed' ? s.green(r.status) : s.blue(r.status)}`];
  }
}
