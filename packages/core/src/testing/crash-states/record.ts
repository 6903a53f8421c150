import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runTypeScript, type ChildOutcome } from '../environment.js';
import { readTrace, type Trace } from './trace.js';

/** One of the crash-state child scripts, from the sources (tsx) or the build. */
export function crashStateScript(name: 'record-preload' | 'check-child' | 'run-steps' | 'recover-steps' | 'kill-preload'): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // Sources: beside this file. Build: dist/testing/crash-states/, from a chunk in dist/ or dist/testing/.
  const candidates = [join(here, `${name}.ts`), join(here, `${name}.js`), join(here, 'crash-states', `${name}.js`), join(here, 'testing', 'crash-states', `${name}.js`)];
  const found = candidates.find((path) => fs.existsSync(path));
  if (!found) throw new Error(`crash-state script ${name} not found beside ${here}`);
  return found;
}

/**
 * Runs a TypeScript file in a child process with the recorder loaded first,
 * and returns every file-system operation it made under `root` (see
 * {@link TraceOperation}) with how the child ended.
 *
 * @example
 * ```ts
 * const { trace, child } = await recordOperations(script, [JSON.stringify(config)], { root: sandbox, tracePath: join(base, 'trace.jsonl') });
 * console.log(`${trace.operations.filter((o) => o.op === 'fsync').length} syncs`);
 * ```
 */
export async function recordOperations(script: string, args: readonly string[], options: { root: string; tracePath: string }): Promise<{ trace: Trace; child: ChildOutcome }> {
  const child = await runTypeScript(script, args, {
    imports: [pathToFileURL(crashStateScript('record-preload')).href],
    env: { ...process.env, UNWIND_RECORD_ROOT: options.root, UNWIND_RECORD_TRACE: options.tracePath },
  });
  if (child.code !== 0) throw new Error(`the recorded run ended with ${child.signal ?? child.code}: ${child.stderr}`);
  return { trace: readTrace(options.tracePath), child };
}
