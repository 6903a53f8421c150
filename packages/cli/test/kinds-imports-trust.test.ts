import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, repoRoot, requireBuilt, runCleanups, unwind } from './helpers.js';
import { importRefusal, moduleSandbox, NOBODY, recoverWithKinds } from './module-sandbox.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

describe('--kinds and plan: every file a module loads is held to the module rule', () => {
  it('a static import graph with a file another user owns anywhere in it is refused before any of it runs', async () => {
    const s = moduleSandbox();
    const entry = s.write('steps.mjs', `${s.runs('entry')}import './lib/middle.mjs';\nexport const kinds = [];\n`);
    s.write('lib/middle.mjs', `${s.runs('middle')}import './deep/helper.mjs';\n`);
    const helper = s.write('lib/deep/helper.mjs', s.runs('helper'));
    fs.chownSync(helper, NOBODY, NOBODY);
    const refused = await recoverWithKinds(s.root, entry);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(importRefusal(entry, helper, `is owned by uid ${NOBODY} (only root or the running user may own it)`));
    expect([s.ran('entry'), s.ran('middle'), s.ran('helper')]).toEqual([false, false, false]);
    // The same graph, every file root's: it loads and runs.
    fs.chownSync(helper, 0, 0);
    const loaded = await recoverWithKinds(s.root, entry);
    expect(loaded.stderr).toMatch(/exports no step kinds/);
    expect([s.ran('entry'), s.ran('middle'), s.ran('helper')]).toEqual([true, true, true]);
  });

  it('refuses an imported file under a directory others can write, and imported JSON another user owns', async () => {
    const s = moduleSandbox();
    const entry = s.write('steps.mjs', `import './shared/helper.mjs';\nexport const kinds = [];\n`);
    const helper = s.write('shared/helper.mjs', s.runs('helper'));
    fs.chmodSync(join(s.base, 'shared'), 0o777);
    const refused = await recoverWithKinds(s.root, entry);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(importRefusal(entry, helper, `has an ancestor ${join(s.base, 'shared')} writable by group or others (mode 0777)`));
    expect(s.ran('helper')).toBe(false);
    const jsonEntry = s.write('data-steps.mjs', `${s.runs('data-entry')}import data from './data.json' with { type: 'json' };\nexport const kinds = data.kinds;\n`);
    const data = s.write('data.json', '{"kinds": []}');
    fs.chownSync(data, NOBODY, NOBODY);
    const json = await recoverWithKinds(s.root, jsonEntry);
    expect(json.code, json.stderr).toBe(4);
    expect(json.stderr).toContain(importRefusal(jsonEntry, data, `is owned by uid ${NOBODY}`));
    expect(s.ran('data-entry')).toBe(false);
  });

  it('refuses a file loaded by require or by import() as the module runs, before that file runs', async () => {
    const s = moduleSandbox();
    const entry = s.write(
      'steps.mjs',
      `${s.runs('entry')}import { createRequire } from 'node:module';\ncreateRequire(import.meta.url)('./lib/old.cjs');\nexport const kinds = [];\n`,
    );
    const required = s.write('lib/old.cjs', `require('node:fs').writeFileSync(${JSON.stringify(s.marker('required'))}, '');\n`);
    fs.chmodSync(required, 0o666);
    const byRequire = await recoverWithKinds(s.root, entry);
    expect(byRequire.code, byRequire.stderr).toBe(4);
    expect(byRequire.stderr).toContain(importRefusal(entry, required, 'is writable by group or others (mode 0666)'));
    expect([s.ran('entry'), s.ran('required')]).toEqual([true, false]);
    // A CommonJS file that requires another: the guard holds at every depth of require too.
    fs.chmodSync(required, 0o644);
    fs.writeFileSync(required, `require('./deeper.cjs');\n`);
    const deeper = s.write('lib/deeper.cjs', `require('node:fs').writeFileSync(${JSON.stringify(s.marker('deeper'))}, '');\n`);
    fs.chownSync(deeper, NOBODY, NOBODY);
    const nested = await recoverWithKinds(s.root, entry);
    expect(nested.code, nested.stderr).toBe(4);
    expect(nested.stderr).toContain(importRefusal(entry, deeper, `is owned by uid ${NOBODY}`));
    expect(s.ran('deeper')).toBe(false);
    const late = s.write('late-steps.mjs', `${s.runs('late-entry')}await import('./lib/late.mjs');\nexport const kinds = [];\n`);
    const lateFile = s.write('lib/late.mjs', s.runs('late'));
    fs.chownSync(lateFile, NOBODY, NOBODY);
    const byImport = await recoverWithKinds(s.root, late);
    expect(byImport.code, byImport.stderr).toBe(4);
    expect(byImport.stderr).toContain(importRefusal(late, lateFile, `is owned by uid ${NOBODY}`));
    expect([s.ran('late-entry'), s.ran('late')]).toEqual([true, false]);
  });

  it('refuses a package linked into node_modules from a directory another user owns (npm link)', async () => {
    const s = moduleSandbox();
    const entry = s.write('tool/steps.mjs', `import 'linked-helper';\nexport const kinds = [];\n`);
    const home = join(s.base, 'home');
    const helper = s.write('home/linked-helper/index.mjs', s.runs('linked'));
    s.write('home/linked-helper/package.json', JSON.stringify({ name: 'linked-helper', type: 'module', exports: './index.mjs' }));
    fs.chownSync(home, NOBODY, NOBODY);
    fs.mkdirSync(join(s.base, 'tool/node_modules'));
    fs.symlinkSync(join(home, 'linked-helper'), join(s.base, 'tool/node_modules/linked-helper'));
    const refused = await recoverWithKinds(s.root, entry);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(importRefusal(entry, helper, `has an ancestor ${home} owned by uid ${NOBODY}`));
    expect(s.ran('linked')).toBe(false);
  });

  it('plan MODULE: a transaction module that imports a file another user owns is refused, exit 4', async () => {
    const s = moduleSandbox();
    const module = s.write('tx.mjs', `import './lib/helper.mjs';\nexport default () => { throw new Error('never called'); };\n`);
    const helper = s.write('lib/helper.mjs', s.runs('helper'));
    fs.chownSync(helper, NOBODY, NOBODY);
    const refused = await unwind(['plan', module]);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(importRefusal(module, helper, `is owned by uid ${NOBODY}`));
    expect(s.ran('helper')).toBe(false);
  });

  it('the library\'s CommonJS build guards the same way: loadKinds called through require', () => {
    const s = moduleSandbox();
    const entry = s.write('steps.mjs', `import './lib/helper.mjs';\nexport const kinds = [];\n`);
    const helper = s.write('lib/helper.mjs', s.runs('helper'));
    fs.chownSync(helper, NOBODY, NOBODY);
    const script = `require(${JSON.stringify(join(repoRoot, 'packages/cli/dist/index.cjs'))}).loadKinds([${JSON.stringify(entry)}]).then(() => console.log('loaded'), (e) => console.log(e.exitCode, e.message));`;
    const ran = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: cleanEnv(), timeout: 30_000 });
    expect(ran.stdout.trim(), ran.stderr).toBe(`4 ${importRefusal(entry, helper, `is owned by uid ${NOBODY} (only root or the running user may own it)`)}; it would run with this process's privileges (only root or the running user may be able to change it)`);
    expect(s.ran('helper')).toBe(false);
  });
});
