import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '@unwind/core';

/**
 * skillmeat's `content_hash`: SHA-256 (hex) of a file's bytes, or for a
 * directory, of every regular file under it in sorted order, each as its
 * relative path (UTF-8) followed by its bytes. Paths sort component by
 * component, as Python sorts `Path` objects, so a lock written by skillmeat
 * and one written here agree. A symlink, FIFO or device anywhere in an
 * artifact is refused: skillmeat would follow it, this program will not.
 *
 * @example
 * ```ts
 * contentHash('/home/alice/.skillmeat/collection/skills/canvas-design'); // '3f1c…'
 * ```
 */
export function contentHash(path: string): string {
  const st = fs.lstatSync(path);
  const hash = createHash('sha256');
  if (st.isFile()) hash.update(fs.readFileSync(path));
  else if (st.isDirectory()) {
    const files = filesUnder(path, []).sort(comparePaths);
    for (const parts of files) {
      hash.update(parts.join('/'), 'utf8');
      hash.update(fs.readFileSync(join(path, ...parts)));
    }
  } else throw new InvalidInputError(`${path} is neither a file nor a directory`, { path });
  return hash.digest('hex');
}

function filesUnder(root: string, prefix: string[]): string[][] {
  const found: string[][] = [];
  for (const entry of fs.readdirSync(join(root, ...prefix), { withFileTypes: true })) {
    const parts = [...prefix, entry.name];
    if (entry.isDirectory()) found.push(...filesUnder(root, parts));
    else if (entry.isFile()) found.push(parts);
    else throw new InvalidInputError(`${join(root, ...parts)} is not a plain file or directory; an artifact may hold only those`, { path: join(root, ...parts) });
  }
  return found;
}

/** Component by component, each by code point (UTF-8 byte order is code point order). */
function comparePaths(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = Buffer.compare(Buffer.from(a[i]!, 'utf8'), Buffer.from(b[i]!, 'utf8'));
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
