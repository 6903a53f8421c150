/**
 * `answer`, with its last answer reused for `reuseMs` ms when it is asked
 * the same `key` again: the same by `same` (default `Object.is`, so a
 * string or number key needs nothing more). Only the last key is kept: this is for a judgement
 * a run asks many times over, with the same question, within milliseconds
 * (the trusted entries of one PATH, the gids of the privileged groups).
 * Reuse is sound only when nobody but root can change the answer in the
 * meantime, so all it does is notice an administrator's own change up to
 * `reuseMs` late; say why that holds where you use it. A thrown error is
 * never kept: the next ask tries again. The clock is monotonic.
 *
 * @example
 * ```ts
 * const trustedPath = reuseAnswer(10_000, (path: string) => judgeEveryEntry(path));
 * trustedPath('/usr/sbin:/usr/bin'); // judged
 * trustedPath('/usr/sbin:/usr/bin'); // the same answer, not judged again, for 10 s
 *
 * const sameNames = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((name, i) => name === b[i]);
 * const gidsOf = reuseAnswer(1000, (names: readonly string[]) => lookUpGids(names), sameNames);
 * ```
 */
export function reuseAnswer<K, T>(reuseMs: number, answer: (key: K) => T, same: (a: K, b: K) => boolean = Object.is): (key: K) => T {
  let last: { key: K; value: T; at: number } | undefined;
  return (key) => {
    const now = performance.now();
    if (last !== undefined && now - last.at < reuseMs && same(last.key, key)) return last.value;
    const value = answer(key);
    last = { key, value, at: now };
    return value;
  };
}
