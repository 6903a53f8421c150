import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyStepKind } from '@unwind/core';
import { CliError } from './errors.js';

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

/**
 * Imports a module given on the command line: a path (relative to `cwd`) when
 * such a file exists, else a package name.
 *
 * @example
 * ```ts
 * const { kinds } = await importModule('./dist/steps.js');
 * ```
 */
export async function importModule(specifier: string, cwd = process.cwd()): Promise<Record<string, unknown>> {
  const path = isAbsolute(specifier) ? specifier : resolve(cwd, specifier);
  const target = existsSync(path) ? pathToFileURL(path).href : specifier;
  try {
    return (await import(target)) as Record<string, unknown>;
  } catch (error) {
    const message = (error as Error).message;
    const hint = /\.[cm]?tsx?$/.test(specifier) && /Unknown file extension/.test(message) ? ' (a TypeScript module: run `node --import tsx $(which unwind) …` or point at the built .js)' : '';
    throw new CliError(`cannot load module ${specifier}: ${message}${hint}`, 4);
  }
}

/**
 * Collects the step kinds `recover` needs: those of every installed
 * `@unwind/*` adapter (a missing adapter, or one without `kinds`, is skipped and noted),
 * plus those of the modules a program names with `--kinds`. A `--kinds`
 * module that cannot be loaded or exports no kinds is an error.
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
      // A variable specifier: resolved at run time, never bundled into the CLI.
      const specifier: string = name;
      namespace = (await import(specifier)) as Record<string, unknown>;
    } catch (error) {
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
