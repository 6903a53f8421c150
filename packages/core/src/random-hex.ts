import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(512);
let used = pool.length;

/**
 * `bytes` random bytes from the system's CSPRNG, as hex, drawn from a
 * refilled pool: a transaction id and a lock's temporary name each need a
 * few, and one `randomBytes` call per few bytes cost more than the rest of
 * naming them. Internal.
 *
 * @example
 * ```ts
 * const suffix = randomHex(3); // e.g. '3f9a1c'
 * ```
 */
export function randomHex(bytes: number): string {
  if (bytes > pool.length) throw new RangeError(`randomHex draws at most ${pool.length} bytes`);
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  // Each byte is handed out once, so two callers never share one draw.
  used += bytes;
  return hex;
}
