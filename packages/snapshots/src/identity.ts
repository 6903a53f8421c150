import * as fs from 'node:fs';
import type { LiveEntry } from './scan.js';

/**
 * A file's identity: device, inode, size, mtime and ctime (nanoseconds).
 * Equal identities mean the same file, unchanged: every change to a file's
 * content or metadata through the kernel sets its ctime to the current time,
 * and userspace cannot set a ctime (only the clock, which needs
 * CAP_SYS_TIME). Two limits make an identity trustworthy only once it has
 * settled (see {@link settledBefore}): a ctime is taken from a coarse clock,
 * so a change made in the same clock tick as the one recorded can leave it
 * the same; and a write through a shared memory map updates it at the first
 * write fault after writeback, not at every store. Equal identities stand in
 * for reading the content; different ones say nothing, and the content is
 * then hashed. An identity also names the boot it was read in: after a
 * power cut a file's times may have reached the disk without its data, so
 * an identity from an earlier boot never matches.
 */
export type Identity = string;

/** What an identity is made of: a scanned entry, or `fs.lstatSync(path, { bigint: true })`. */
type Stamped = Pick<LiveEntry, 'dev' | 'ino' | 'mtimeNs' | 'ctimeNs'> & { size: number | bigint };

let boot: string | undefined;

/** This boot's id (`/proc/sys/kernel/random/boot_id`), or '' where there is none. */
function bootId(): string {
  if (boot === undefined) {
    try {
      boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      boot = '';
    }
  }
  return boot;
}

/**
 * The identity of a scanned entry or a bigint lstat.
 *
 * @example
 * ```ts
 * if (identityOf(live) === manifestEntry.identity) live.sha256 = manifestEntry.sha256;
 * ```
 */
export function identityOf(e: Stamped): Identity {
  return `${bootId()}:${e.dev}:${e.ino}:${e.size}:${e.mtimeNs}:${e.ctimeNs}`;
}

/**
 * How far a recorded ctime must lie before the moment the record was begun.
 * The kernel's coarse clock (which stamps ctimes) lags the precise one by at
 * most one tick (1 to 10 ms); 50 ms is ample.
 */
const SETTLE_NS = 50_000_000n;

/**
 * The moment, as a file time, from which identities read from now on can be
 * trusted: call it BEFORE the stats whose identities are recorded. An
 * identity is recorded only when the file's ctime is earlier than this
 * moment (the "racily clean" rule git applies to its index): any later
 * change gets a ctime of at least this moment, so it cannot leave the
 * identity as it was. A file changed within the last 50 ms, or whose ctime
 * is in the future (the clock was set back), gets no identity and is hashed.
 *
 * @example
 * ```ts
 * const moment = settleMoment();
 * const live = await scanTree(root);
 * const identities = live.map((e) => settledBefore(e, moment));
 * ```
 */
export function settleMoment(): bigint {
  return BigInt(Date.now()) * 1_000_000n - SETTLE_NS;
}

/**
 * The entry's identity, if it can be trusted later: its ctime lies before
 * `moment` from {@link settleMoment}.
 *
 * @example
 * ```ts
 * if (settledBefore(entry, moment) === undefined) entry.sha256 = hashFile(fs, path, entry.size);
 * ```
 */
export function settledBefore(e: Stamped, moment: bigint): Identity | undefined {
  // Without a boot id an identity could be trusted across a power cut: record none.
  return e.ctimeNs < moment && bootId() !== '' ? identityOf(e) : undefined;
}
