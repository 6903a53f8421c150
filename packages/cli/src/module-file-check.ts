import { readFileSync } from 'node:fs';
import { Module } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { compileFunction } from 'node:vm';
import { judgeTrustedFile } from '@unwind/core';

/** The `code` of the error {@link assertTrustedImport} throws: it crosses from the module hooks' thread intact. */
export const UNTRUSTED_IMPORT = 'ERR_UNWIND_UNTRUSTED_IMPORT';

/**
 * Throws an `Error` with code {@link UNTRUSTED_IMPORT} unless the file a
 * module imports or requires, `file`, passes core's `assertTrustedFile`
 * (it and every directory and symlink on the way owned by root or the
 * running user, none writable by group or others but a sticky directory).
 * The same rule as the module named on the command line: every file of its
 * import graph runs with this process's privileges. Its `file` property is
 * the file, its `reason` what is wrong with it. A plain `Error`, not a
 * class of ours: the module hooks' thread passes only a plain error's
 * message and properties back to the import that failed.
 *
 * @example
 * ```ts
 * assertTrustedImport('/opt/tool/lib/helper.js');
 * // Error: imported file /opt/tool/lib/helper.js is owned by uid 1000 (only root or the running user may own it)
 * ```
 */
export function assertTrustedImport(file: string): void {
  const judged = judgeTrustedFile(file, 'imported file');
  if ('real' in judged) return;
  const reason = 'reason' in judged ? judged.reason : `imported file ${file} cannot be resolved (${judged.missing})`;
  throw Object.assign(new Error(reason), { code: UNTRUSTED_IMPORT, file });
}

/**
 * Why {@link assertRequiredFileIsCommonJs} refused a file: `require()` would
 * load it as an ES module. Its `code` is {@link UNTRUSTED_IMPORT}, like a
 * refused import: the module that required it is refused the same way.
 *
 * @example
 * ```ts
 * try {
 *   assertRequiredFileIsCommonJs('/opt/tool/lib/inner.mjs');
 * } catch (error) {
 *   if (error instanceof RequiredEsModuleError) console.error(error.code, error.file);
 * }
 * ```
 */
export class RequiredEsModuleError extends Error {
  override readonly name = 'RequiredEsModuleError';
  readonly code = UNTRUSTED_IMPORT;
  constructor(
    /** The file `require()` was to load. */
    readonly file: string,
    /** Why it would be loaded as an ES module. */
    why: string,
  ) {
    super(`require() of an ES module is not checked; import it instead (${file} is ${why})`);
  }
}

/**
 * Throws a {@link RequiredEsModuleError} unless `require()` would load the
 * file `file` as CommonJS (or JSON, or a native addon). Node (20.19 and
 * later) lets `require()` load an ES module, but on a Node without
 * `module.registerHooks` (before 22.15) it then loads that module's own
 * imports with no hook to check them, so a guarded process refuses the
 * require instead. An ES module here: a `.mjs` or `.mts` file; a `.js` or
 * `.ts` file whose nearest package.json says `"type": "module"`; and any
 * other file but `.cjs`, `.json` and `.node` that does not compile as
 * CommonJS (Node then loads it as an ES module if it has import or export
 * statements, `import.meta` or a top-level `await`; a file that does not
 * compile at all is refused too), but TypeScript a loader such as tsx
 * compiles to CommonJS.
 *
 * @example
 * ```ts
 * assertRequiredFileIsCommonJs('/opt/tool/lib/old.cjs'); // fine
 * assertRequiredFileIsCommonJs('/opt/tool/lib/inner.mjs');
 * // RequiredEsModuleError: require() of an ES module is not checked; import it instead (/opt/tool/lib/inner.mjs is an ES module)
 * ```
 */
export function assertRequiredFileIsCommonJs(file: string): void {
  if (/\.(cjs|json|node)$/.test(file)) return;
  let why: string | undefined;
  if (/\.m[jt]s$/.test(file)) why = 'an ES module';
  else if (/\.[jt]s$/.test(file) && nearestPackageType(file) === 'module') why = 'an ES module: its package.json says "type": "module"';
  else if (!compiledByLoader(file) && !compilesAsCommonJs(file)) why = 'not CommonJS: it does not compile as CommonJS, so Node would load it as an ES module';
  if (why) throw new RequiredEsModuleError(file, why);
}

/** The `type` of the package.json nearest to `file`, looked up as Node does: never above a `node_modules` directory. */
function nearestPackageType(file: string): unknown {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (basename(dir) === 'node_modules') return undefined;
    let text: string | undefined;
    try {
      text = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      // None here: look further up.
    }
    if (text !== undefined) {
      try {
        return (JSON.parse(text) as { type?: unknown } | null)?.type;
      } catch {
        return undefined; // Unreadable: the compile test decides.
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Whether `file` is TypeScript that a loader the process was started with
 * (`--import tsx`: a `Module._extensions` handler, not Node's own type
 * stripping) compiles to CommonJS: its source is not JavaScript to test.
 */
function compiledByLoader(file: string): boolean {
  const extension = /\.(c?ts|tsx)$/.exec(file)?.[0];
  const handlers = (Module as unknown as { _extensions: Record<string, unknown> })._extensions;
  return extension !== undefined && typeof handlers[extension] === 'function' && !(process.features as { typescript?: unknown }).typescript;
}

/** Whether `file` compiles as the body of a CommonJS module function, as Node's CommonJS loader compiles it. */
function compilesAsCommonJs(file: string): boolean {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    return true; // Node cannot read it either, and says so.
  }
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
  try {
    compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
    return true;
  } catch {
    return false;
  }
}
