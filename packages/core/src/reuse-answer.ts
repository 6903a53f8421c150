/**
 * `answer`, with its last answer reused for `reuseMs` ms when it is asked
 * the same `key` again. Only the last key is kept: this is for a judgement
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
 * ```
 */
export function reuseAnswer<T>(reuseMs: number, answer: (key: string) => T): (key: string) => T {
  let last: { key: string; value: T; at: number } | undefined;
  return (key) => {
    const now = performance.now();
    if (last !== undefined && last.key === key && now - last.at < reuseMs) return last.value;
    const value = answer(key);
    last = { key, value, at: now };
    return value;
  };
}
