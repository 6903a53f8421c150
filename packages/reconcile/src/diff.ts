/**
 * The pure part of reconciling: compare desired items with actual ones by
 * key and say, for each key, what should happen. No I/O here, so every rule
 * (never adopt, never remove what is not ours, never touch a protected key)
 * is tested without a machine.
 */

/**
 * What the diff decided for one key, before drift checks ran.
 *
 * - `create`: desired, absent.
 * - `update`: desired, present, owned, and `differs` says it differs.
 * - `check`: desired, present, owned, and the same: a drift check decides.
 * - `conflict`: desired, present, but not carrying the ownership marker (never adopted).
 * - `remove`: not desired, owned, not protected.
 * - `keep-unowned`: not desired, not owned: left alone.
 * - `keep-protected`: not desired, owned, but protected: left alone.
 *
 * @example
 * ```ts
 * const kind: DiffKind = 'keep-unowned';
 * ```
 */
export type DiffKind = 'create' | 'update' | 'check' | 'conflict' | 'remove' | 'keep-unowned' | 'keep-protected';

/**
 * One key's entry of a {@link diff}.
 *
 * @example
 * ```ts
 * const entry: DiffEntry<{ name: string }, { name: string }> = { key: 'a', kind: 'create', desired: { name: 'a' } };
 * ```
 */
export interface DiffEntry<D, A> {
  key: string;
  kind: DiffKind;
  desired?: D;
  actual?: A;
  /** Why a key is protected, for `keep-protected`. */
  reason?: string;
}

/**
 * The rules a {@link diff} applies.
 *
 * @example
 * ```ts
 * const rules: DiffRules<Item, Item> = { key: (i) => i.name, ownership: (a) => a.managed, protect: (k) => k === 'root' };
 * ```
 */
export interface DiffRules<D, A> {
  /** The key of a desired item: unique; items run in the sorted order of their keys. */
  key: (item: D) => string;
  /** Key of an actual item. Default: `key`. */
  actualKey?: (item: A) => string;
  /** Whether an actual item carries the caller's ownership marker. */
  ownership: (item: A) => boolean;
  /** Whether a key must never be removed; a string is the reason. */
  protect?: (key: string, actual?: A) => boolean | string;
  /** Whether an owned actual item differs from its desired form. Default: never (a drift check decides). */
  differs?: (desired: D, actual: A) => boolean;
}

/**
 * Sorts keys in code-point order: the same order on every machine and
 * locale, so runs are reproducible.
 *
 * @example
 * ```ts
 * sortKeys(['b', 'B', 'a']); // ['B', 'a', 'b']
 * ```
 */
export function sortKeys(keys: Iterable<string>): string[] {
  return [...keys].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}

/**
 * The reason a key is protected, or undefined.
 *
 * @example
 * ```ts
 * protectionOf({ protect: (k) => k === 'root' }, 'root'); // 'protected'
 * protectionOf({ protect: () => 'deny list' }, 'bob');   // 'deny list'
 * ```
 */
export function protectionOf<A>(rules: Pick<DiffRules<unknown, A>, 'protect'>, key: string, actual?: A): string | undefined {
  const verdict = rules.protect?.(key, actual);
  if (verdict === true) return 'protected';
  return typeof verdict === 'string' && verdict !== '' ? verdict : undefined;
}

/**
 * Compares desired with actual items and returns one entry per key, sorted
 * by key. Keys must be unique on each side (see `validateDesired`); a
 * duplicate actual key throws, because guessing which one is meant could
 * remove the wrong thing.
 *
 * @example
 * ```ts
 * diff([{ name: 'a' }], [{ name: 'b', managed: true }], { key: (i) => i.name, ownership: (a) => a.managed });
 * // [{ key: 'a', kind: 'create', ... }, { key: 'b', kind: 'remove', ... }]
 * ```
 */
export function diff<D, A>(desired: readonly D[], actual: readonly A[], rules: DiffRules<D, A>): DiffEntry<D, A>[] {
  const actualKey = rules.actualKey ?? (rules.key as unknown as (item: A) => string);
  const want = new Map<string, D>();
  for (const item of desired) {
    const key = rules.key(item);
    if (want.has(key)) throw new Error(`desired key "${key}" appears twice`);
    want.set(key, item);
  }
  const have = new Map<string, A>();
  for (const item of actual) {
    const key = actualKey(item);
    if (have.has(key)) throw new Error(`actual key "${key}" appears twice; refusing to guess which one is meant`);
    have.set(key, item);
  }
  const entries: DiffEntry<D, A>[] = [];
  for (const key of sortKeys(new Set([...want.keys(), ...have.keys()]))) {
    const d = want.get(key);
    const a = have.get(key);
    if (d !== undefined && a === undefined) entries.push({ key, kind: 'create', desired: d });
    else if (d !== undefined && a !== undefined) {
      if (!rules.ownership(a)) entries.push({ key, kind: 'conflict', desired: d, actual: a });
      else entries.push({ key, kind: rules.differs?.(d, a) ? 'update' : 'check', desired: d, actual: a });
    } else if (a !== undefined) {
      // Ownership first: an unowned item is never ours to judge, protected or not.
      if (!rules.ownership(a)) entries.push({ key, kind: 'keep-unowned', actual: a });
      else {
        const reason = protectionOf(rules, key, a);
        entries.push(reason ? { key, kind: 'keep-protected', actual: a, reason } : { key, kind: 'remove', actual: a });
      }
    }
  }
  return entries;
}
