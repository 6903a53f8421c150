import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Crash tests start hundreds of child processes. `node --import tsx` needs
// about 2.5 s to reach the child's first line (tsx registers its loader, then
// resolves and transforms every source file the child imports, one by one);
// the same child bundled once into a single ES module starts in about 0.3 s.
// That is the only difference: the bundle is built from the same sources with
// the same path aliases (the workspace's tsconfig, as tsx reads it), keeps
// every module's side effects (package "sideEffects" hints are ignored), and
// gives every module its own import.meta.url/dirname/filename, as tsx would.
// The entry module keeps the bundle's own import.meta, so a program's
// "am I the main module" check (import.meta.url against process.argv[1]) and
// a re-run of itself through process.argv[1] still work.
//
// A child that imports a computed specifier at run time (a kinds module named
// in its arguments) is not bundled: the module it loads would bring a second
// copy of the sources the bundle already holds. It runs under tsx as before.
// (The crash-state children get their kinds module by name instead: see
// crash-states/kinds-child.ts.) Preloads given with `--import` are bundled
// each on its own: they share no module state with the script.
// So does every child when esbuild cannot be loaded (a consumer of
// @unwind/core/testing that does not install it).

/** One bundle and the source files it was built from, with their modification times. */
interface Built {
  bundle: string | undefined;
  inputs: ReadonlyMap<string, number>;
}

const built = new Map<string, Promise<Built>>();
let directory: string | undefined;
let bundles = 0;

/** The per-process directory of bundles (and of the entries crash-states/kinds-child.ts writes), removed when the process exits. */
export function bundleDirectory(): string {
  if (directory === undefined) {
    const made = fs.mkdtempSync(join(tmpdir(), 'unwind-child-bundles-'));
    directory = made;
    process.once('exit', () => fs.rmSync(made, { recursive: true, force: true }));
  }
  return directory;
}

/** True when every source file still has the modification time it had when the bundle was built. */
function unchanged(inputs: ReadonlyMap<string, number>): boolean {
  for (const [path, modified] of inputs) {
    try {
      if (fs.statSync(path).mtimeMs !== modified) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Matches `import(` (not a method such as `runner.import(`) followed by anything but a string literal: a specifier computed at run time. */
const COMPUTED_IMPORT = /(?<![.\w$])import\(\s*(?!["'`])/;

// Modules read by the bundler. In each that uses import.meta, `define` turns
// import.meta.url/filename/dirname (as expressions, never inside strings or
// comments) into module-local constants declared at its top: its own file's
// values, or, in the entry module, the bundle's (declared in the banner).
const SOURCE_FILE = /\.[cm]?[jt]sx?$/;
const LOADER = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'tsx', '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.jsx': 'jsx' } as const;
const META = { url: '__unwindMetaUrl', filename: '__unwindMetaFilename', dirname: '__unwindMetaDirname' } as const;
const BANNER = [
  // CommonJS dependencies inside an ES module still need `require` (for node's own modules).
  "import { createRequire as __unwindCreateRequire } from 'node:module';",
  'const require = __unwindCreateRequire(import.meta.url);',
  'const __unwindBundleUrl = import.meta.url, __unwindBundleFilename = import.meta.filename, __unwindBundleDirname = import.meta.dirname;',
].join(' ');

/** The declarations put at the top of one module: its own import.meta values, or the bundle's for the entry. */
function ownMeta(path: string, entry: boolean): string {
  const values = entry
    ? { url: '__unwindBundleUrl', filename: '__unwindBundleFilename', dirname: '__unwindBundleDirname' }
    : { url: JSON.stringify(pathToFileURL(path).href), filename: JSON.stringify(path), dirname: JSON.stringify(dirname(path)) };
  return `const ${META.url} = ${values.url}, ${META.filename} = ${values.filename}, ${META.dirname} = ${values.dirname};\n`;
}

async function build(script: string, workspace: string): Promise<Built> {
  let esbuild: typeof import('esbuild');
  try {
    // A computed name: the published build must not try to bundle esbuild itself.
    const name = 'esbuild';
    esbuild = (await import(name)) as typeof import('esbuild');
  } catch {
    return { bundle: undefined, inputs: new Map() };
  }
  const entry = fs.realpathSync(script);
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    tsconfig: join(workspace, 'tsconfig.json'),
    ignoreAnnotations: true,
    metafile: true,
    logLevel: 'silent',
    banner: { js: BANNER },
    define: { 'import.meta.url': META.url, 'import.meta.filename': META.filename, 'import.meta.dirname': META.dirname },
    plugins: [
      {
        name: 'unwind-own-import-meta',
        setup(plugin) {
          plugin.onLoad({ filter: SOURCE_FILE }, (args) => {
            const contents = fs.readFileSync(args.path, 'utf8');
            const loader = LOADER[args.path.slice(args.path.lastIndexOf('.')) as keyof typeof LOADER] ?? 'js';
            if (!contents.includes('import.meta')) return { contents, loader };
            // After a `#!` line, which must stay the first.
            const at = contents.startsWith('#!') ? contents.indexOf('\n') + 1 : 0;
            return { contents: contents.slice(0, at) + ownMeta(args.path, args.path === entry) + contents.slice(at), loader };
          });
        },
      },
    ],
  });
  const inputs = new Map<string, number>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const path = input.startsWith('/') ? input : join(workspace, input);
    if (fs.existsSync(path)) inputs.set(path, fs.statSync(path).mtimeMs);
  }
  const code = result.outputFiles[0]!.text;
  if (COMPUTED_IMPORT.test(code)) return { bundle: undefined, inputs };
  const bundle = join(bundleDirectory(), `${String(++bundles)}-${entry.replace(/[^A-Za-z0-9]+/g, '-').slice(-100)}.mjs`);
  fs.writeFileSync(bundle, code, { mode: 0o600 });
  return { bundle, inputs };
}

/**
 * The path of `script` bundled into one ES module that plain `node` runs
 * without tsx, or undefined when it must run under tsx (it imports a module
 * named at run time, or esbuild is not installed). Built once per process
 * and script, and again when one of its source files changed.
 *
 * @example
 * ```ts
 * const bundle = await childBundle(join(import.meta.dirname, 'fixtures/crash-child.ts'), workspaceRoot());
 * const argv = bundle ? [bundle] : ['--import', 'tsx', script];
 * ```
 */
export async function childBundle(script: string, workspace: string): Promise<string | undefined> {
  const key = `${workspace}\0${script}`;
  const previous = built.get(key);
  if (previous) {
    const done = await previous;
    if (unchanged(done.inputs)) return done.bundle;
  }
  const next = build(script, workspace);
  built.set(key, next);
  try {
    return (await next).bundle;
  } catch {
    // What esbuild cannot bundle, tsx may still run (and report its own error if not).
    built.delete(key);
    return undefined;
  }
}
