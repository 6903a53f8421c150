// A child script: runs recover() on a journal, so the recorder can watch
// recovery itself (a power cut during recover()). argv[2]: JSON
// { journalRoot, kindsModule, kindsExport, programs? }. Prints the report's results.
import { runCommand } from '../../exec.js';
import { withPrograms } from '../../programs.js';
import { recover } from '../../recover.js';
import type { AnyStepKind } from '../../step.js';
import { testKinds } from '../kinds.js';

const config = JSON.parse(process.argv[2]!) as { journalRoot: string; kindsModule: string; kindsExport?: string; programs?: Record<string, string> };
const module = (await import(config.kindsModule)) as Record<string, unknown>;
const kinds = [...(module[config.kindsExport ?? 'kinds'] as AnyStepKind[]), ...testKinds];
const report = await recover({ root: config.journalRoot, kinds, ...(config.programs ? { exec: withPrograms(runCommand, config.programs) } : {}) });
process.stdout.write(JSON.stringify(report.transactions.map((t) => ({ result: t.result, ...(t.error ? { error: t.error.message } : {}) }))));
process.exit(0);
