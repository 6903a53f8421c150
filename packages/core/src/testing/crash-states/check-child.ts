// A crash-state child: for each crash state in a file, writes it onto the
// sandbox, runs recover() there, and records the resulting tree. Never the
// process that made the trace: nothing of that run's page cache or memory is
// here. Run through kindsChild('check-child', kindsModule); argv[2]: JSON
// { sandbox, journalRoot, kindsExport, statesFile, resultsFile, keep?, programs? }.
import * as fs from 'node:fs';
import { relative } from 'node:path';
import { runCommand } from '../../exec.js';
import { withPrograms } from '../../programs.js';
import { recover } from '../../recover.js';
import type { AnyStepKind } from '../../step.js';
import { testKinds } from '../kinds.js';
import { linkedTreeState } from './compare.js';
import { materialize } from './materialize.js';
import type { ModelEntry } from './model.js';

/** What the explorer gives one checking child. */
interface CheckConfig {
  sandbox: string;
  journalRoot: string;
  kindsExport: string;
  statesFile: string;
  resultsFile: string;
  keep?: { directory: string; ids: Array<[string, string]> };
  programs?: Record<string, string>;
}

/** Recovers every state of `config.statesFile` with the kinds `kindsModule` exports, writes the trees to `config.resultsFile`, then exits 0. */
export async function runChild(config: CheckConfig, kindsModule: Record<string, unknown>): Promise<never> {
  const keep = config.keep ? { directory: config.keep.directory, ids: new Map(config.keep.ids) } : undefined;
  const kinds = [...(kindsModule[config.kindsExport] as AnyStepKind[]), ...testKinds];
  const journal = relative(config.sandbox, config.journalRoot);
  const ignore = (path: string) => path === journal;
  const out = fs.openSync(config.resultsFile, 'w');
  for (const line of fs.readFileSync(config.statesFile, 'utf8').split('\n')) {
    if (!line) continue;
    const { key, entries } = JSON.parse(line) as { key: string; entries: ModelEntry[] };
    materialize(config.sandbox, entries, keep);
    let error: string | undefined;
    try {
      const report = await recover({ root: config.journalRoot, kinds, ...(config.programs ? { exec: withPrograms(runCommand, config.programs) } : {}) });
      if (!report.ok) error = `recover() did not finish: ${JSON.stringify(report.transactions.map((t) => ({ result: t.result, error: t.error?.message })))}`;
    } catch (thrown) {
      error = `recover() threw: ${(thrown as Error).stack ?? thrown}`;
    }
    fs.writeSync(out, `${JSON.stringify({ key, error, tree: linkedTreeState(config.sandbox, ignore) })}\n`);
  }
  fs.closeSync(out);
  process.exit(0);
}
