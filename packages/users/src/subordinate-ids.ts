/**
 * The rules for the subordinate id ranges (`/etc/subuid`, `/etc/subgid`:
 * `name:start:count`) that `removeUser` captures and its undo writes back.
 * A range is what `newuidmap`/`newgidmap` let its owner map into a user
 * namespace: one that contains id 0 maps the machine's root, and one that
 * overlaps another account's lets either owner act as the other's container
 * ids. So a range is put back only when it is well formed, starts above 0,
 * and overlaps no range the files give anyone else now (shadow's useradd
 * hands the lowest free range to the next account: a crashed removal's range
 * may be someone else's by the time its undo runs).
 */

/** A parsed range: ids `start` to `start + count - 1`. */
export interface SubordinateRange {
  name: string;
  start: number;
  count: number;
}

/** The largest id the kernel maps: ids are 32-bit and 4294967295 is "no id". */
const LAST_ID = 4294967294;

/**
 * The range of one line, or undefined when the line is not `name:start:count`
 * with decimal numbers.
 *
 * @example
 * ```ts
 * parseSubordinateRange('alice:100000:65536'); // { name: 'alice', start: 100000, count: 65536 }
 * ```
 */
export function parseSubordinateRange(line: string): SubordinateRange | undefined {
  const m = /^([^:]+):(\d{1,10}):(\d{1,10})$/.exec(line);
  if (!m) return undefined;
  return { name: m[1]!, start: Number(m[2]), count: Number(m[3]) };
}

/**
 * Why the line must not be written back, or undefined when it may: not
 * `name:start:count`, an empty range, one past the last id, or one that
 * contains id 0 (the machine's root).
 *
 * @example
 * ```ts
 * subordinateRangeProblem('alice:0:65536'); // 'it contains id 0, the machine's root'
 * ```
 */
export function subordinateRangeProblem(line: string): string | undefined {
  const range = parseSubordinateRange(line);
  if (!range) return 'it is not name:start:count';
  if (range.count === 0) return 'it is empty';
  if (range.start === 0) return "it contains id 0, the machine's root";
  if (range.start + range.count - 1 > LAST_ID) return 'it runs past the last id';
  return undefined;
}

/**
 * The first line of `lines` (another name's) whose range shares an id with
 * `range`, or undefined. Lines that are not ranges are passed over: they
 * grant nothing.
 *
 * @example
 * ```ts
 * overlappingRange({ name: 'alice', start: 100000, count: 65536 }, ['bob:100000:65536']); // 'bob:100000:65536'
 * ```
 */
export function overlappingRange(range: SubordinateRange, lines: readonly string[]): string | undefined {
  const end = range.start + range.count;
  return lines.find((line) => {
    const other = parseSubordinateRange(line);
    return other !== undefined && other.name !== range.name && other.start < end && range.start < other.start + other.count;
  });
}
