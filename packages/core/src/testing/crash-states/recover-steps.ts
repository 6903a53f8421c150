// A crash-state child: runs recover() on a journal, so the recorder can watch
// recovery itself (a power cut during recover()). Run through
// kindsChild('recover-steps', kindsModule); argv[2]: JSON
// { journalRoot, kindsExport, programs? }. Prints the report's results.
import { runCommand } from '../../exec.js';
import { withPrograms } from '../../programs.js';
import { recover } from '../../recover.js';
import type { AnyStepKind } from '../../step.js';
import { testKinds } from '../kinds.js';

/** Recovers the journal under `config.journalRoot` with the kinds `kindsModule` exports (and the run's programs), prints the results, then exits 0. */
export async function runChild(config: { journalRoot: string; kindsExport?: string; programs?: Record<string, string> }, kindsModule: Record<string, unknown>): Promise<never> {
  const kinds = [...(kindsModule[config.kindsExport ?? 'kinds'] as AnyStepKind[]), ...testKinds];
  const report = await recover({ root: config.journalRoot, kinds, ...(config.programs ? { exec: withPrograms(runCommand, config.programs) } : {}) });
  process.stdout.write(JSON.stringify(report.transactions.map((t) => ({ result: t.result, ...(t.error ? { error: t.error.message } : {}) }))));
  process.exit(0);
}
