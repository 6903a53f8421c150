// Module hooks (node:module `register`), run on Node's hooks thread: every
// file the import graph of a module the CLI loads reaches is checked before
// Node reads it. See guardModuleLoading in module-trust.ts.
import { fileURLToPath } from 'node:url';
import { assertTrustedImport } from './module-file-check.js';

type NextLoad = (url: string, context: unknown) => Promise<unknown>;

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
