// Module hooks: `load` for node:module `register` (run on Node's hooks
// thread), `loadInThread` for `module.registerHooks` (Node 22.15 and later,
// run on this thread). Every file the import graph of a module the CLI loads
// reaches is checked before Node reads it. See guardModuleLoading in
// module-trust.ts.
import { fileURLToPath } from 'node:url';
import { assertTrustedImport } from './module-file-check.js';

type NextLoad = (url: string, context: unknown) => Promise<unknown>;

/** The type of {@link loadInThread}, a `module.registerHooks` load hook. */
export type LoadInThread = (url: string, context: unknown, nextLoad: (url: string, context: unknown) => unknown) => unknown;

/**
 * Node's `load` hook: a `file:` module (JavaScript, JSON, WebAssembly, a
 * CommonJS file imported by a module) is loaded only when it passes
 * {@link assertTrustedImport}; `node:` and `data:` modules carry no file.
 *
 * @example
 * ```ts
 * register(new URL('./module-trust-hooks.js', import.meta.url));
 * ```
 */
export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<unknown> {
  if (url.startsWith('file:')) assertTrustedImport(fileURLToPath(url));
  return nextLoad(url, context);
}

/**
 * The same check as {@link load}, as a synchronous `load` hook for
 * `module.registerHooks` (Node 22.15 and later): on this thread, for every
 * file `import`, `require` and `require()` of an ES module load, including
 * the imports of an ES module `require()` loads.
 *
 * @example
 * ```ts
 * module.registerHooks({ load: loadInThread });
 * ```
 */
export const loadInThread: LoadInThread = (url, context, nextLoad) => {
  if (url.startsWith('file:')) assertTrustedImport(fileURLToPath(url));
  return nextLoad(url, context);
};
