// What the tests of the `--kinds`/`plan` module guard share: a sandbox whose
// journal root is empty (so `recover` loads its modules and has nothing to
// do), a module graph written under its base, and markers that show whether
// a file of it ran.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { newSandbox, unwind, type Ran } from './helpers.js';

/** nobody's uid: another user, who owns the planted files a guard must refuse. */
export const NOBODY = 65534;

/**
 * A sandbox (removed after the test) with an empty private journal root, and
 * functions to write files under its base: `write(name, text)` returns the
 * file's path, `runs(name)` is module source that leaves a marker when it
 * runs, and `ran(name)` tells whether it did.
 */
export function moduleSandbox() {
  const s = newSandbox();
  fs.mkdirSync(s.root, { mode: 0o700 });
  const write = (name: string, text: string) => {
    const file = join(s.base, name);
    fs.mkdirSync(join(file, '..'), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
  };
  const marker = (name: string) => join(s.base, `${name}.ran`);
  const ran = (name: string) => fs.existsSync(marker(name));
  const runs = (name: string) => `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker(name))}, '');\n`;
  return { ...s, write, marker, ran, runs };
}

/** `unwind recover --root root --kinds module`, from `cwd` if given. */
export const recoverWithKinds = (root: string, module: string, cwd?: string): Promise<Ran> => unwind(['recover', '--root', root, '--kinds', module], cwd ? { cwd } : {});

/** The guard's refusal of a file `module` imports. */
export const importRefusal = (module: string, file: string, reason: string) => `refusing to load module ${module}: imported file ${file} ${reason}`;
