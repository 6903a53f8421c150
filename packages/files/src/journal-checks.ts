import { dirname, join, sep } from 'node:path';
import { UntrustedJournalError, temporaryPrefixFor } from '@unwind/core';

/**
 * Recovery-time checks of the paths the files kinds journal. A journal is
 * input, not truth: whoever can write it must not be able to make root
 * unlink, rename or chmod anything the (already validated) arguments do not
 * name. Each check throws {@link UntrustedJournalError}.
 */

/** Throws unless `temp` is this kind's own temp name for `target`: in its directory, the kind's prefix, 128 random bits in hex. */
export function checkTemporaryName(target: string, temp: string, what: string): void {
  const name = temp.slice(dirname(target).length + 1);
  const ownPrefix = temporaryPrefixFor(target);
  const ok = dirname(temp) === dirname(target) && name.startsWith(ownPrefix) && /^[0-9a-f]{32}$/.test(name.slice(ownPrefix.length));
  if (!ok) throw new UntrustedJournalError(`${what}: journaled temp name ${JSON.stringify(temp)} is not this step's own temp name beside ${target}`, { target, temp });
}

/** Throws unless `blob` is a name the file-replacing kinds give the before-state's bytes: `before-<32 hex>`. */
export function checkBlobName(blob: string, what: string): void {
  if (!/^before-[0-9a-f]{32}$/.test(blob)) throw new UntrustedJournalError(`${what}: journaled blob name ${JSON.stringify(blob)} is not one this step writes`, { blob });
}

/** Throws unless `path` is `root` or lies under it. */
export function checkWithin(path: string, roots: readonly string[], what: string): void {
  const inside = roots.some((root) => path === root || path.startsWith(root === sep ? sep : `${root}${sep}`));
  if (!inside || path.split(sep).includes('..')) throw new UntrustedJournalError(`${what}: journaled path ${JSON.stringify(path)} is outside ${roots.join(', ')}`, { path, roots: [...roots] });
}

/** Throws unless `actual` is exactly the path this step derives itself. */
export function checkExactly(actual: string, expected: string, what: string): void {
  if (actual !== expected) throw new UntrustedJournalError(`${what}: journaled path ${JSON.stringify(actual)} is not ${JSON.stringify(expected)}`, { path: actual, expected });
}

/** The staging directory a `files.remove` step makes: in the staging base, named after its transaction and step. */
export function stagingPathFor(base: string, transactionId: string, stepIndex: number): string {
  return join(base, `.unwind-staging-${transactionId}-${stepIndex}`);
}
