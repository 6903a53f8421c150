import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, repoRoot, requireBuilt, runCleanups, unwind } from './helpers.js';
import { importRefusal, moduleSandbox, NOBODY, recoverWithKinds } from './module-sandbox.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

/** Node 22.15 and later: the guard's in-thread hooks check what require(esm) imports; before, such a require is refused. */
const IN_THREAD_HOOKS = typeof (nodeModule as { registerHooks?: unknown }).registerHooks === 'function';

/** A {@link moduleSandbox} with `tool/node_modules/evilpkg`, a package another user (nobody) owns: if any of it runs, `ran('evil')`. */
function withRoot() {
  const s = moduleSandbox();
  const { write, marker, runs } = s;
  const evil = join(s.base, 'tool/node_modules/evilpkg');
  write('tool/node_modules/evilpkg/package.json', JSON.stringify({ name: 'evilpkg', type: 'module', exports: { import: './index.mjs', require: './index.cjs' } }));
  write('tool/node_modules/evilpkg/index.mjs', `${runs('evil')}export const x = 1;\n`);
  write('tool/node_modules/evilpkg/index.cjs', `require('node:fs').writeFileSync(${JSON.stringify(marker('evil'))}, '');\n`);
  fs.chownSync(evil, NOBODY, NOBODY);
  return { ...s, evil, evilEsm: join(evil, 'index.mjs') };
}

const REQUIRE = `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n`;

describe('--kinds: a module cannot load code past the guard through require(esm) or a worker thread', () => {
  it('require() of an ES module whose imports reach a file another user owns: refused, none of it runs', async () => {
    const s = withRoot();
    // Every way require() ends up loading an ES module: .mjs; .js in a "type": "module" package; a .js with import
    // statements and no "type" (Node's syntax detection); an ES module required by a CommonJS file that is imported.
    const inner = {
      mjs: s.write('tool/inner.mjs', `import 'evilpkg';\nexport const y = 1;\n`),
      typed: s.write('tool/typed/inner.js', `import 'evilpkg';\nexport const y = 1;\n`),
      detected: s.write('tool/detected/inner.js', `import 'evilpkg';\nexport const y = 1;\n`),
    };
    s.write('tool/typed/package.json', JSON.stringify({ type: 'module' }));
    s.write('tool/detected/package.json', '{}');
    s.write('tool/bridge.cjs', `require('./inner.mjs');\n`);
    const entries = [
      { entry: s.write('tool/steps-mjs.mjs', `${REQUIRE}require('./inner.mjs');\nexport const kinds = [];\n`), inner: inner.mjs, why: 'an ES module' },
      { entry: s.write('tool/steps-typed.mjs', `${REQUIRE}require('./typed/inner.js');\nexport const kinds = [];\n`), inner: inner.typed, why: 'an ES module: its package.json says "type": "module"' },
      { entry: s.write('tool/steps-detected.mjs', `${REQUIRE}require('./detected/inner.js');\nexport const kinds = [];\n`), inner: inner.detected, why: 'not CommonJS' },
      { entry: s.write('tool/steps-bridge.mjs', `import './bridge.cjs';\nexport const kinds = [];\n`), inner: inner.mjs, why: 'an ES module' },
    ];
    for (const { entry, inner: file, why } of entries) {
      const refused = await recoverWithKinds(s.root, entry);
      expect(refused.code, `${entry}: ${refused.stderr}`).toBe(4);
      expect(refused.stderr).toContain(
        IN_THREAD_HOOKS ? importRefusal(entry, s.evilEsm, `has an ancestor ${s.evil} owned by uid ${NOBODY}`) : `refusing to load module ${entry}: require() of an ES module is not checked; import it instead (${file} is ${why}`,
      );
      expect(s.ran('evil'), entry).toBe(false);
    }
  });

  it('a require() the guard refuses after the module loaded (from a timer): the refusal is printed, exit 4 at once, nothing of the file runs', async () => {
    const s = withRoot();
    const entry = s.write('tool/steps-later.mjs', `${REQUIRE}setTimeout(() => require('evilpkg'), 0);\nexport const kinds = [];\n`);
    const refused = await recoverWithKinds(s.root, entry);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(`unwind: error: refusing to load a module's file: `);
    expect(refused.stderr).toContain(s.evil);
    expect(refused.stderr).not.toContain('internal error');
    expect(s.ran('evil')).toBe(false);
  });

  it('require() of a trusted ES module: loads where Node checks its imports (22.15+), is refused before; CommonJS loads either way', async () => {
    const s = withRoot();
    s.write('tool/inner.mjs', `import './helper.mjs';\nexport const y = 1;\n`);
    s.write('tool/helper.mjs', s.runs('helper'));
    const entry = s.write('tool/steps.mjs', `${REQUIRE}require('./inner.mjs');\nexport const kinds = [];\n`);
    const result = await recoverWithKinds(s.root, entry);
    if (IN_THREAD_HOOKS) {
      expect(result.stderr).toMatch(/exports no step kinds/);
      expect(s.ran('helper')).toBe(true);
    } else {
      expect(result.stderr).toContain('require() of an ES module is not checked; import it instead');
      expect(s.ran('helper')).toBe(false);
    }
    // CommonJS without a "type" (and with a hashbang line) is still required as before, and what it requires checked.
    s.write('tool/cjs/package.json', '{}');
    s.write('tool/cjs/old.js', `#!/usr/bin/env node\nrequire('node:fs').writeFileSync(${JSON.stringify(s.marker('old'))}, '');\nrequire('evilpkg');\n`);
    const cjs = s.write('tool/steps-cjs.mjs', `${REQUIRE}require('./cjs/old.js');\nexport const kinds = [];\n`);
    const refused = await recoverWithKinds(s.root, cjs);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(importRefusal(cjs, join(s.evil, 'index.cjs'), `has an ancestor ${s.evil} owned by uid ${NOBODY}`));
    expect([s.ran('old'), s.ran('evil')]).toEqual([true, false]);
  });

  it('a worker thread is refused with a typed error, whatever it would load: nothing a worker loads is checked', async () => {
    const s = withRoot();
    const worker = s.write('tool/w.mjs', `${s.runs('worker')}import 'evilpkg';\n`);
    const entry = s.write(
      'tool/steps.mjs',
      `import { Worker } from 'node:worker_threads';\nawait new Promise((done) => { const w = new Worker(new URL('./w.mjs', import.meta.url)); w.on('exit', done); w.on('error', done); });\nexport const kinds = [];\n`,
    );
    const refused = await recoverWithKinds(s.root, entry);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(`refusing to load module ${entry}: a worker thread (new Worker(${pathToFileURL(worker).href})) is refused: nothing a worker loads would be checked`);
    expect([s.ran('worker'), s.ran('evil')]).toEqual([false, false]);
    // Every way to reach the class refuses, an eval worker too; the error says what it is.
    const caught = s.write(
      'tool/caught.mjs',
      `import { writeFileSync } from 'node:fs';\nimport { createRequire } from 'node:module';\nimport threads, { Worker } from 'node:worker_threads';\n` +
        `const tries = [() => new Worker('./w.mjs'), () => new threads.Worker('1', { eval: true }), () => new (createRequire(import.meta.url)('node:worker_threads').Worker)('./w.mjs'), () => new (process.getBuiltinModule('worker_threads').Worker)('./w.mjs')];\n` +
        `writeFileSync(${JSON.stringify(s.marker('caught'))}, tries.map((t) => { try { t(); return 'started'; } catch (e) { return \`\${e.name} \${e.code} \${e.entry}\`; } }).join('\\n'));\nexport const kinds = [];\n`,
    );
    expect((await recoverWithKinds(s.root, caught)).stderr).toMatch(/exports no step kinds/);
    expect(fs.readFileSync(s.marker('caught'), 'utf8').split('\n')).toEqual([
      'WorkerRefusedError ERR_UNWIND_WORKER_REFUSED ./w.mjs',
      'WorkerRefusedError ERR_UNWIND_WORKER_REFUSED code',
      'WorkerRefusedError ERR_UNWIND_WORKER_REFUSED ./w.mjs',
      'WorkerRefusedError ERR_UNWIND_WORKER_REFUSED ./w.mjs',
    ]);
    expect([s.ran('worker'), s.ran('evil')]).toEqual([false, false]);
  });

  it('a worker running a CommonJS file the process loaded before the guard (its own code: esbuild under --import tsx) still starts', () => {
    const s = withRoot();
    const body = (name: string) => `const { isMainThread } = require('node:worker_threads');\nif (!isMainThread) require('node:fs').writeFileSync(${JSON.stringify(s.marker(name))}, '');\n`;
    const preloaded = s.write('pre/preloaded.cjs', body('preloaded'));
    const other = s.write('pre/other.cjs', body('other'));
    const start = (file: string) => `import { Worker } from 'node:worker_threads';\nawait new Promise((done, fail) => { const w = new Worker(${JSON.stringify(file)}); w.on('exit', done); w.on('error', fail); });\nexport const kinds = [];\n`;
    const run = (module: string) => spawnSync(process.execPath, ['--require', preloaded, join(repoRoot, 'packages/cli/dist/bin.js'), 'recover', '--root', s.root, '--kinds', module], { encoding: 'utf8', env: cleanEnv(), timeout: 30_000 });
    const started = run(s.write('tool/steps.mjs', start(preloaded)));
    expect(started.stderr).toMatch(/exports no step kinds/);
    expect(s.ran('preloaded')).toBe(true);
    const refused = run(s.write('tool/other-steps.mjs', start(other)));
    expect(refused.status, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(`a worker thread (new Worker(${other})) is refused`);
    expect(s.ran('other')).toBe(false);
  });

  it('plan MODULE: a worker or a require(esm) past the guard is refused the same way', async () => {
    const s = withRoot();
    s.write('tool/inner.mjs', `import 'evilpkg';\nexport const y = 1;\n`);
    const module = s.write('tool/tx.mjs', `${REQUIRE}require('./inner.mjs');\nexport default () => { throw new Error('never called'); };\n`);
    const refused = await unwind(['plan', module]);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toMatch(IN_THREAD_HOOKS ? /owned by uid 65534/ : /require\(\) of an ES module is not checked; import it instead/);
    const worker = s.write('tool/tx-worker.mjs', `import { Worker } from 'node:worker_threads';\nnew Worker('1', { eval: true });\nexport default () => { throw new Error('never called'); };\n`);
    const workerRefused = await unwind(['plan', worker]);
    expect(workerRefused.code, workerRefused.stderr).toBe(4);
    expect(workerRefused.stderr).toContain(`refusing to load module ${worker}: a worker thread (new Worker(code)) is refused`);
    expect(s.ran('evil')).toBe(false);
  });
});

describe('adapters: an @unwind/* package is held to the module rule wherever resolution finds it', () => {
  it('an adapter missing from the install and found in an ancestor node_modules another user owns is refused, exit 4, before it runs', () => {
    const s = withRoot();
    // An install of the CLI (a copy of its dist) with its dependencies but @unwind/files, under <base>/lib/node_modules.
    const cli = join(s.base, 'lib/node_modules/@unwind/cli');
    const own = join(repoRoot, 'packages/cli/node_modules');
    fs.mkdirSync(join(cli, 'node_modules/@unwind'), { recursive: true });
    fs.cpSync(join(repoRoot, 'packages/cli/dist'), join(cli, 'dist'), { recursive: true });
    fs.copyFileSync(join(repoRoot, 'packages/cli/package.json'), join(cli, 'package.json'));
    for (const dep of ['commander', 'yaml', '@unwind/core', '@unwind/progress', '@unwind/snapshots', '@unwind/users', '@unwind/linger', '@unwind/systemd']) {
      fs.symlinkSync(fs.realpathSync(join(own, dep)), join(cli, 'node_modules', dep));
    }
    // Resolution goes on up to <base>/node_modules/@unwind/files, where another user put one.
    const planted = s.write('node_modules/@unwind/files/index.js', `${s.runs('adapter')}export const kinds = [];\n`);
    s.write('node_modules/@unwind/files/package.json', JSON.stringify({ name: '@unwind/files', type: 'module', exports: './index.js' }));
    const modules = join(s.base, 'node_modules');
    fs.chownSync(modules, NOBODY, NOBODY);
    const run = () => spawnSync(process.execPath, [join(cli, 'dist/bin.js'), 'recover', '--root', s.root], { encoding: 'utf8', env: cleanEnv(), timeout: 30_000 });
    const refused = run();
    expect(refused.status, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(`refusing to load module @unwind/files: adapter file ${planted} has an ancestor ${modules} owned by uid ${NOBODY}`);
    expect(s.ran('adapter')).toBe(false);
    // The same file, root's: it is the one resolution finds, and it loads.
    fs.chownSync(modules, 0, 0);
    const loaded = run();
    expect(loaded.status, loaded.stderr).toBe(0);
    expect(s.ran('adapter')).toBe(true);
  });
});
