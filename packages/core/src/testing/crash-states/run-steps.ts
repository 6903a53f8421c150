// A crash-state child: runs one transaction of the given steps with a file
// journal, so the recorder can watch it (or the kill counter kill it). Run
// through kindsChild('run-steps', kindsModule), which passes the kinds module;
// argv[2]: JSON of RunStepsConfig. Prints the outcome as JSON on stdout.
import { runCommand } from '../../exec.js';
import { fileJournal } from '../../journal/file-journal.js';
import { withPrograms } from '../../programs.js';
import { transaction } from '../../runner/transaction.js';
import type { AnyStepKind } from '../../step.js';
import { failingStep } from '../kinds.js';
import type { RunStepsConfig } from './explore.js';

/** Runs the transaction `config` describes with the kinds `kindsModule` exports, then exits 0. */
export async function runChild(config: RunStepsConfig, kindsModule: Record<string, unknown>): Promise<never> {
  const kinds = kindsModule[config.kindsExport ?? 'kinds'] as AnyStepKind[];
  const tx = transaction(config.name, { journal: fileJournal({ root: config.journalRoot, retention: config.retention ?? { keepLast: 20 } }), handleSignals: false, ...(config.programs ? { exec: withPrograms(runCommand, config.programs) } : {}) });
  for (const step of config.steps) {
    const kind = kinds.find((k) => k.type === step.type);
    if (!kind) throw new Error(`${config.kindsModule} exports no kind ${step.type}`);
    tx.add(kind(step.args as never));
  }
  if (config.rollback) tx.add(failingStep({ message: 'roll back on purpose' }));
  const outcome = await tx.run();
  process.stdout.write(JSON.stringify({ status: outcome.status }));
  process.exit(0);
}
