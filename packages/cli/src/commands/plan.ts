import type { PlanEntry, Transaction } from '@unwind/core';
import { CliError, EXIT } from '../errors.js';
import { errorLine, printable } from '../terminal-text.js';
import { importModule } from '../kinds.js';
import { printJson, println, type CommandIO } from './context.js';

/** Options of `unwind plan`. */
export interface PlanOptions {
  json?: boolean;
}

type Plannable = Pick<Transaction, 'plan' | 'name'>;

function isTransaction(value: unknown): value is Plannable {
  return typeof value === 'object' && value !== null && typeof (value as Plannable).plan === 'function' && typeof (value as { run?: unknown }).run === 'function';
}

/**
 * Finds the transaction a module exports: its default export, or a named
 * `transaction` or `plan` export; each may be a Transaction or a function
 * (sync or async, called without arguments) that returns one.
 */
export async function transactionFrom(namespace: Record<string, unknown>, module: string): Promise<Plannable> {
  const candidates = [namespace.default, namespace.transaction, namespace.plan].filter((c) => c !== undefined);
  for (const candidate of candidates) {
    if (isTransaction(candidate)) return candidate;
    if (typeof candidate === 'function') {
      let made: unknown;
      try {
        made = await (candidate as () => unknown)();
      } catch (error) {
        throw new CliError(`the transaction function of ${module} threw: ${(error as Error).message}`, EXIT.badInput);
      }
      if (isTransaction(made)) return made;
    }
  }
  throw new CliError(`${module} exports no transaction: export default (or \`transaction\`/\`plan\`) a Transaction or a function returning one`, EXIT.badInput);
}

/**
 * `unwind plan MODULE`: the steps a program's transaction would run, and
 * whether each would change anything where its kind can tell. Runs only
 * read-only probes; changes nothing. Exit 0, or 4 when a step's arguments
 * are invalid (the run would be refused).
 */
export async function planCommand(module: string, options: PlanOptions, io: CommandIO): Promise<number> {
  const tx = await transactionFrom(await importModule(module, io.cwd), module);
  const entries: PlanEntry[] = await tx.plan();
  const invalid = entries.some((e) => e.error);
  if (options.json) {
    printJson(io.stdout, { name: tx.name, steps: entries });
    return invalid ? EXIT.badInput : EXIT.ok;
  }
  const s = io.style;
  println(io.stdout, `${s.bold('Plan')} ${s.bold(printable(tx.name))}: ${entries.length} step${entries.length === 1 ? '' : 's'} (nothing is changed)`);
  const width = String(entries.length).length;
  for (const e of entries) {
    const change = e.error ? s.red('invalid') : e.wouldChange === true ? s.yellow('change') : e.wouldChange === false ? s.green('no change') : s.dim('may change');
    const flags = e.irreversible ? ` ${s.red('(irreversible)')}` : '';
    println(io.stdout, `  ${String(e.index + 1).padStart(width)}. ${printable(e.description)}${flags}  ${s.dim(`[${printable(e.type)}]`)}  ${change}`);
    if (e.error) println(io.stdout, `     ${' '.repeat(width)}${errorLine(e.error)}`);
  }
  if (invalid) println(io.stdout, '', s.red('Some steps have invalid arguments: running this transaction would be refused, nothing touched.'));
  return invalid ? EXIT.badInput : EXIT.ok;
}
