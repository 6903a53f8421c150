import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newSandbox, onCleanup, repoRoot, requireBuilt, runCleanups, unwind } from './helpers.js';
import { NOBODY, recoverWithKinds } from './module-sandbox.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

/** A module that leaves a marker when it runs (it must not, when refused) and exports no kinds. */
function plant(file: string, marker: string): void {
  fs.mkdirSync(join(file, '..'), { recursive: true });
  fs.writeFileSync(file, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport const kinds = [];\n`);
}

/** A sandbox with an empty private journal root, so that `recover` loads its --kinds modules. */
function withRoot() {
  const s = newSandbox();
  fs.mkdirSync(s.root, { mode: 0o700 });
  return { ...s, marker: join(s.base, 'marker') };
}

describe('--kinds: a module runs as root, so only a trusted file is loaded', () => {
  it('a bare name is a package only: a file of that name in the current directory is never imported', async () => {
    const s = withRoot();
    plant(join(s.base, '@acme', 'steps'), s.marker);
    const r = await recoverWithKinds(s.root, '@acme/steps', s.base);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/cannot load module @acme\/steps: Cannot find package '@acme\/steps'.*write a path as \.\/@acme\/steps/);
    expect(fs.existsSync(s.marker)).toBe(false);
    // Written as a path, the same file is a path (and loads: root owns it).
    const asPath = await recoverWithKinds(s.root, './@acme/steps', s.base);
    expect(asPath.stderr).toMatch(/module \.\/@acme\/steps exports no step kinds/);
    expect(fs.existsSync(s.marker)).toBe(true);
  });

  it('refuses a module file another user owns or can write, exit 4, before it runs', async () => {
    const s = withRoot();
    const file = join(s.base, 'steps.mjs');
    plant(file, s.marker);
    fs.chownSync(file, NOBODY, NOBODY);
    const owned = await recoverWithKinds(s.root, file);
    expect(owned.code).toBe(4);
    expect(owned.stderr).toContain(`refusing to load module ${file}: module file ${file} is owned by uid ${NOBODY}`);
    fs.chownSync(file, 0, 0);
    fs.chmodSync(file, 0o666);
    const writable = await recoverWithKinds(s.root, file);
    expect(writable.code).toBe(4);
    expect(writable.stderr).toContain(`${file} is writable by group or others (mode 0666)`);
    expect(fs.existsSync(s.marker)).toBe(false);
  });

  it('refuses a module under a directory another user owns or can write (unless sticky), or behind their symlink', async () => {
    const s = withRoot();
    const dir = join(s.base, 'lib');
    const file = join(dir, 'steps.mjs');
    plant(file, s.marker);
    fs.chownSync(dir, NOBODY, NOBODY);
    expect((await recoverWithKinds(s.root, file)).stderr).toContain(`has an ancestor ${dir} owned by uid ${NOBODY}`);
    fs.chownSync(dir, 0, 0);
    fs.chmodSync(dir, 0o777);
    expect((await recoverWithKinds(s.root, file)).stderr).toContain(`has an ancestor ${dir} writable by group or others (mode 0777)`);
    const link = join(s.base, 'link.mjs');
    fs.chmodSync(dir, 0o755);
    fs.symlinkSync(file, link);
    fs.lchownSync(link, NOBODY, NOBODY);
    expect((await recoverWithKinds(s.root, link)).stderr).toContain(`${link} is a symlink owned by uid ${NOBODY}`);
    expect(fs.existsSync(s.marker)).toBe(false);
    // A sticky directory others can write (like /tmp) holding root's file is fine.
    fs.chmodSync(dir, 0o1777);
    const sticky = await recoverWithKinds(s.root, file);
    expect(sticky.stderr).toMatch(/exports no step kinds/);
    expect(fs.existsSync(s.marker)).toBe(true);
  });

  it('a package resolved through node_modules follows the same rule', async () => {
    const s = withRoot();
    const name = `unwind-test-kinds-${process.pid}`;
    const dir = join(repoRoot, 'packages/cli/node_modules', name);
    onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
    plant(join(dir, 'index.mjs'), s.marker);
    fs.writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, type: 'module', exports: './index.mjs' }));
    fs.chownSync(dir, NOBODY, NOBODY);
    const refused = await recoverWithKinds(s.root, name);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`refusing to load module ${name}: module file ${join(dir, 'index.mjs')} has an ancestor ${dir} owned by uid ${NOBODY}`);
    expect(fs.existsSync(s.marker)).toBe(false);
    fs.chownSync(dir, 0, 0);
    expect((await recoverWithKinds(s.root, name)).stderr).toMatch(/exports no step kinds/);
    expect(fs.existsSync(s.marker)).toBe(true);
  });
});
