import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { lstatIfPresent } from '@unwind/core';
import { realPathInImage } from './prefix.js';

/**
 * Where the homes of a user database lead on disk, for one check (see
 * checkRemovableHome), every way a home may be read: as written (under the
 * prefix with one), through the machine's real path, and, with a prefix,
 * as the image itself resolves it (an absolute link from the image's root).
 * A way that does not resolve (a missing home, a dangling link) is left
 * out: the path as written stands for it. Reads only; never used to open
 * anything.
 *
 * Directories are resolved once per check and shared: the homes of a
 * database mostly share their parents (`/home`), so each home costs one
 * `lstat` a way, and only a symlink is resolved in full. Checking every
 * other account's home on every removal is otherwise a walk from `/` per
 * account: quadratic in a reconciler removing many.
 *
 * @example
 * ```ts
 * const locations = new HomeLocations('/srv/root');
 * locations.of('/home/carol'); // ['/srv/root/home/carol', '/srv/root/home/bob/carol', ...] when it links into bob's
 * ```
 */
export class HomeLocations {
  private readonly onMachine = new Map<string, string | undefined>([['/', '/']]);
  private readonly inImage = new Map<string, string | undefined>([['/', '/']]);
  private readonly root: string | undefined;

  constructor(private readonly prefix: string | undefined) {
    this.root = prefix === undefined ? undefined : fs.realpathSync(prefix);
  }

  /** Every place `home` (normalised, absolute, in the image's terms with a prefix) leads. */
  of(home: string): string[] {
    const written = this.prefix ? join(this.prefix, home) : home;
    const out = new Set([written]);
    const real = this.machineReal(written);
    if (real !== undefined) out.add(real);
    if (this.root !== undefined) {
      out.add(join(this.root, home));
      const inImage = this.imageReal(home);
      if (inImage !== undefined) out.add(join(this.root, inImage));
    }
    return [...out];
  }

  /** realpath(3) of an absolute path, its directories resolved once per check. */
  private machineReal(path: string): string | undefined {
    if (this.onMachine.has(path)) return this.onMachine.get(path);
    const parent = this.machineReal(dirname(path));
    let result: string | undefined;
    if (parent !== undefined) {
      const at = join(parent, basename(path));
      const st = lstatIfPresent(at);
      if (st?.isSymbolicLink()) result = realpathOrUndefined(at);
      else if (st) result = at;
    }
    this.onMachine.set(path, result);
    return result;
  }

  /** Where the image resolves `path` (see realPathInImage), its directories resolved once per check. */
  private imageReal(path: string): string | undefined {
    if (this.inImage.has(path)) return this.inImage.get(path);
    const parent = this.imageReal(dirname(path));
    let result: string | undefined;
    if (parent !== undefined) {
      const next = join(parent, basename(path));
      const st = lstatIfPresent(join(this.root!, next));
      // A link is followed as the image's kernel would follow it: the full walk, for the rare home that has one.
      if (st?.isSymbolicLink()) result = realPathInImage(this.prefix!, next);
      else if (st) result = next;
    }
    this.inImage.set(path, result);
    return result;
  }
}

function realpathOrUndefined(path: string): string | undefined {
  try {
    return fs.realpathSync.native(path);
  } catch {
    return undefined;
  }
}
