import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleDirectory } from '../child-bundle.js';
import { crashStateScript } from './record.js';

// The explorer's and the kill tests' children (run-steps, check-child,
// recover-steps) act on the step kinds of a module the test names. Imported
// by a name computed at run time, that module could not be bundled with the
// child (see child-bundle.ts), and every child would start under tsx: about
// 1.5 s and 0.5 s of CPU each on an idle machine, against 0.3 s and 0.1 s for
// a bundle, times hundreds of children. So each child script exports
// `runChild(config, kindsModule)`, and the parent runs a two-line entry that
// imports both by name: one bundle per child and kinds module.

const entries = new Map<string, string>();

/**
 * The path of a script that runs the crash-state child `name` on the step
 * kinds `kindsModule` exports (an absolute path or a file: URL), with the
 * child's JSON configuration in argv[2]: what {@link runTypeScript} runs.
 * Written once per process, child and module.
 *
 * @example
 * ```ts
 * const { trace } = await recordOperations(kindsChild('run-steps', kindsModule), [JSON.stringify(config)], { root: sandbox, tracePath });
 * ```
 */
export function kindsChild(name: 'run-steps' | 'check-child' | 'recover-steps', kindsModule: string): string {
  const modulePath = kindsModule.startsWith('file:') ? fileURLToPath(kindsModule) : kindsModule;
  const key = `${name}\0${modulePath}`;
  let entry = entries.get(key);
  if (entry === undefined) {
    entry = join(bundleDirectory(), `entry-${String(entries.size + 1)}-${name}.mts`);
    fs.writeFileSync(entry, [
      `import * as kindsModule from ${JSON.stringify(modulePath)};`,
      `import { runChild } from ${JSON.stringify(crashStateScript(name))};`,
      'await runChild(JSON.parse(process.argv[2]!), kindsModule);',
      '',
    ].join('\n'), { mode: 0o600 });
    entries.set(key, entry);
  }
  return entry;
}
