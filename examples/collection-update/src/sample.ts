import * as fs from 'node:fs';
import { join } from 'node:path';

/**
 * The sample shipped beside the source: a skillmeat collection exactly as
 * skillmeat writes one (collection.toml, collection.lock, a directory skill,
 * a command file, a local agent), and a local upstream directory offering
 * new commits of two of its artifacts.
 *
 * @example
 * ```ts
 * fs.existsSync(join(SAMPLE, 'collection', 'collection.lock')); // true
 * ```
 */
export const SAMPLE = join(import.meta.dirname, '..', 'sample');

/**
 * Copies the sample collection to `dir` (modes kept).
 *
 * @example
 * ```ts
 * seedCollection('/tmp/unwind-example-collection/collection');
 * ```
 */
export function seedCollection(dir: string): void {
  fs.cpSync(join(SAMPLE, 'collection'), dir, { recursive: true, errorOnExist: true, force: false });
}

/**
 * Copies the sample upstream directory (upstream.toml and the offered content) to `dir`.
 *
 * @example
 * ```ts
 * seedUpstream('/tmp/unwind-example-collection/upstream');
 * ```
 */
export function seedUpstream(dir: string): void {
  fs.cpSync(join(SAMPLE, 'upstream'), dir, { recursive: true, errorOnExist: true, force: false });
}
