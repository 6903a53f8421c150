import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { judgeTrustedFile, type AnyStepKind } from '@unwind/core';
import { CliError, EXIT } from './errors.js';
import { RequiredEsModuleError, UNTRUSTED_IMPORT } from './module-file-check.js';
import { assertTrustedModuleFile, guardModuleLoading, moduleRefused, WorkerRefusedError } from './module-trust.js';
import { markRefusalReported } from './uncaught-refusals.js';

/**
 * The packages whose step kinds `unwind recover` registers when they are
 * installed. Each exports a `kinds` array from its index. Never
 * `@unwind/core/testing`: its kinds write and remove whatever path a
 * journal names, so a planted journal would make root do just that. Tests
 * register them explicitly with `--kinds`.
 *
 * @example
 * ```ts
 * ADAPTER_PACKAGES.includes('@unwind/files') // true
 * ```
 */
export const ADAPTER_PACKAGES = ['@unwind/files', '@unwind/snapshots', '@unwind/users', '@unwind/linger', '@unwind/systemd'] as const;

/**
 * Where the registered step kinds came from, and what could not be loaded.
 *
 * @example
 * ```ts
 * const { sources, skipped } = await loadKinds();
 * for (const s of skipped) console.warn(`${s.from}: ${s.reason}`);
 * ```
 */
export interface LoadedKinds {
  kinds: AnyStepKind[];
  /** Packages and modules that contributed kinds, with how many. */
  sources: Array<{ from: string; count: number }>;
  /** Adapters that are not installed or export no `kinds` (not an error: a journal naming their types says so). */
  skipped: Array<{ from: string; reason: string }>;
}

function isStepKind(value: unknown): value is AnyStepKind {
  return (typeof value === 'function' || (typeof value === 'object' && value !== null)) && typeof (value as AnyStepKind).type === 'string' && typeof (value as AnyStepKind).definition === 'object';
}

/** Finds a `kinds` array in a module namespace: `export const kinds`, or a default export that is one or holds one. */
function kindsOf(namespace: Record<string, unknown>): unknown[] | undefined {
  const candidates = [namespace.kinds, (namespace.default as { kinds?: unknown } | undefined)?.kinds, namespace.default];
  return candidates.find((c): c is unknown[] => Array.isArray(c));
}

/** Written as a path: the only way a command-line module is looked up in the file system. */
const PATH_SPECIFIER = /^(\/|\.\.?\/)/;

/**
 * Imports a module given on the command line. A path must be written as one
 * (`/abs/steps.js`, `./steps.js`, `../lib/steps.js`; relative to `cwd`); any
 * other specifier is a package name, resolved from the CLI's own install and
 * never from `cwd` (so a file `./@acme/steps` planted where root runs
 * `unwind` is never picked up). The resolved file, and every directory above
 * it, must pass the ancestor rule (see module-trust.ts): the module runs with
 * this process's privileges. So must every file it imports or requires,
 * from then on, in this process (see guardModuleLoading). Anything wrong is
 * a {@link CliError}, exit 4, before the module runs (a file its code loads
 * as it runs, before that file runs).
 *
 * @example
 * ```ts
 * const { kinds } = await importModule('./dist/steps.js');
 * ```
 */
export async function importModule(specifier: string, cwd = process.cwd()): Promise<Record<string, unknown>> {
  const fail = (message: string) => {
    const hint = /\.[cm]?tsx?$/.test(specifier) && /Unknown file extension/.test(message) ? ' (a TypeScript module: run `node --import tsx $(which unwind) …` or point at the built .js)' : '';
    return new CliError(`cannot load module ${specifier}: ${message}${hint}`, EXIT.badInput);
  };
  let file: string;
  if (PATH_SPECIFIER.test(specifier)) file = resolve(cwd, specifier);
  else {
    let url: string;
    try {
      url = resolvePackage(specifier);
    } catch (error) {
      throw fail(`${(error as Error).message.split('\n')[0]} (a name that is not a path is a package; write a path as ./${specifier})`);
    }
    if (!url.startsWith('file:')) throw fail(`${url} is not a file`);
    file = fileURLToPath(url);
  }
  const real = assertTrustedModuleFile(file, specifier);
  guardModuleLoading();
  try {
    return (await import(pathToFileURL(real).href)) as Record<string, unknown>;
  } catch (error) {
    // Node 20 may report it again as an uncaught exception (see answerUncaughtExceptions).
    markRefusalReported(error);
    // Refused by the guard for how it loads, not for who can change a file: the reason says it all.
    if (error instanceof RequiredEsModuleError || error instanceof WorkerRefusedError) throw new CliError(`refusing to load module ${specifier}: ${error.message}`, EXIT.badInput, { module: specifier, file: error instanceof RequiredEsModuleError ? error.file : error.entry });
    if ((error as { code?: unknown })?.code === UNTRUSTED_IMPORT) throw moduleRefused(specifier, (error as Error).message, (error as { file?: string }).file);
    throw fail((error as Error).message);
  }
}

/** A package name resolved as `import` would resolve it from this file (ESM build), or as `require` (CommonJS build). */
function resolvePackage(specifier: string): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve(specifier);
  return pathToFileURL(require.resolve(specifier)).href;
}

/** The URL to import adapter `name` by: its entry file's real path, once that passes the module rule (a {@link CliError}, exit 4, if not). */
function trustedAdapterEntry(name: string): string {
  const url = resolvePackage(name);
  if (!url.startsWith('file:')) throw new Error(`${url} is not a file`);
  const file = fileURLToPath(url);
  const judged = judgeTrustedFile(file, 'adapter file');
  if ('real' in judged) return pathToFileURL(judged.real).href;
  if ('missing' in judged) throw new Error(`${judged.missing} (${file})`);
  throw moduleRefused(name, judged.reason, file);
}

/**
 * Collects the step kinds `recover` needs: those of every installed
 * `@unwind/*` adapter (a missing adapter, or one without `kinds`, is skipped and noted),
 * plus those of the modules a program names with `--kinds`. An adapter
 * whose entry file another user could change is refused (a {@link CliError},
 * exit 4; the rule of `assertTrustedModuleFile` in module-trust.ts). A `--kinds`
 * module that cannot be loaded, is refused (another user could change it,
 * or a file it imports), or exports no kinds is an error. Once a module is
 * named, every module file this process loads from then on is checked
 * (see `guardModuleLoading` in module-trust.ts): the check is process-wide.
 *
 * @example
 * ```ts
 * const { kinds } = await loadKinds(['./dist/steps.js']);
 * await recover({ root, kinds });
 * ```
 */
export async function loadKinds(modules: readonly string[] = [], cwd = process.cwd()): Promise<LoadedKinds> {
  const registry = new Map<string, AnyStepKind>();
  const result: LoadedKinds = { kinds: [], sources: [], skipped: [] };
  const add = (from: string, list: unknown[]) => {
    const found = list.filter(isStepKind);
    for (const kind of found) registry.set(kind.type, kind);
    result.sources.push({ from, count: found.length });
    return found.length;
  };
  for (const name of ADAPTER_PACKAGES) {
    let namespace: Record<string, unknown>;
    try {
      // Resolved at run time, never bundled into the CLI. An adapter runs with this process's privileges too: its entry
      // file (wherever resolution found it: any ancestor node_modules, or NODE_PATH in the CommonJS build) is held to the
      // module rule, and the real path judged is the one imported.
      namespace = (await import(trustedAdapterEntry(name))) as Record<string, unknown>;
    } catch (error) {
      if (error instanceof CliError) throw error;
      result.skipped.push({ from: name, reason: `not loadable: ${(error as Error).message.split('\n')[0]}` });
      continue;
    }
    const list = kindsOf(namespace);
    if (!list || add(name, list) === 0) {
      if (list) result.sources.pop();
      result.skipped.push({ from: name, reason: 'exports no step kinds' });
    }
  }
  for (const module of modules) {
    const list = kindsOf(await importModule(module, cwd));
    if (!list || add(module, list) === 0) throw new CliError(`module ${module} exports no step kinds: export \`kinds\` (an array of defineStep(...) kinds)`, 4);
  }
  result.kinds = [...registry.values()];
  return result;
}
