import * as fs from 'node:fs';
import { join } from 'node:path';
import { contentHash } from './content-hash.js';
import { LOCK, MANIFEST, lockKey, readLock, readManifest } from './format.js';

/**
 * Where the lock and the disk disagree: an artifact of the manifest with no
 * lock entry, whose file or directory is missing, whose content hashes
 * differently from its `content_hash`, or whose `resolved_sha` differs
 * between manifest and lock. Empty when the lock holds.
 *
 * @example
 * ```ts
 * const problems = checkLock('/home/alice/.skillmeat/collection');
 * if (problems.length) console.error(problems.join('\n'));
 * ```
 */
export function checkLock(dir: string): string[] {
  const manifest = readManifest(fs.readFileSync(join(dir, MANIFEST), 'utf8'), join(dir, MANIFEST));
  const lock = readLock(fs.readFileSync(join(dir, LOCK), 'utf8'), join(dir, LOCK));
  const problems: string[] = [];
  for (const artifact of manifest.artifacts) {
    const key = lockKey(artifact);
    const entry = lock.get(key);
    const path = join(dir, artifact.path);
    if (!entry) problems.push(`${key} is in the manifest but not in the lock`);
    else if (!fs.existsSync(path)) problems.push(`${key} is locked but ${artifact.path} is missing`);
    else if (contentHash(path) !== entry.content_hash) problems.push(`${key}: ${artifact.path} does not match its locked content_hash (modified locally?)`);
    else if (artifact.resolved_sha && entry.resolved_sha && artifact.resolved_sha !== entry.resolved_sha) problems.push(`${key}: the manifest resolves to ${artifact.resolved_sha}, the lock to ${entry.resolved_sha}`);
  }
  return problems;
}
