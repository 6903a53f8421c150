// A child script: runs recover() on a journal, so the recorder can watch
// recovery itself (a power cut during recover()). argv[2]: JSON
// { journalRoot, kindsModule, kindsExport }. Prints the report's results.
import { recover } from '../../recover.js';
import type { AnyStepKind } from '../../step.js';
import { testKinds } from '../kinds.js';

const config = JSON.parse(process.argv[2]!) as { journalRoot: string; kindsModule: string; kindsExport?: string };
const module = (await import(config.kindsModule)) as Record<string, unknown>;
const kinds = [...(module[config.kindsExport ?? 'kinds'] as AnyStepKind[]), ...testKinds];
const report = await recover({ root: config.journalRoot, kinds });
process.stdout.write(JSON.stringify(report.transactions.map((t) => ({ result: t.result, ...(t.error ? { error: t.error.message } : {}) }))));
process.exit(0);
