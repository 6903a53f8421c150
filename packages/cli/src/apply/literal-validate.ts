/*
 * A step whose arguments hold references cannot be validated with the values
 * it will get, and a stand-in value proves nothing (validate may refuse the
 * stand-in, or accept it where the real value fails). What can be known for
 * sure: validate runs on the arguments behind a proxy that notes every read
 * of a value that is, or holds, a reference. When validate throws without
 * having read one, its path to that throw saw only literal values, so it
 * throws the same whatever the references resolve to: a mistake worth
 * reporting before anything runs. When it read one, nothing is concluded;
 * the step is validated again once its references are resolved, as before.
 */

/**
 * Runs `validate` on `args` whose values at `references` (paths of keys
 * below `args`) are not known yet. Returns the error validate throws without
 * having read any of them (and throws again on the plain arguments, so the
 * proxy did not cause it), else undefined (it passed, or its verdict
 * depended on a reference). Assumes, like the check of steps without
 * references, that validate is a pure function of its argument and that the
 * kind's codec hands it the values as written (no transforming codecs).
 *
 * @example
 * ```ts
 * validateLiterals(kind.definition.validate, { path: 'etc/x', uid: { $result: 'w.uid' } }, [['uid']]);
 * // InvalidInputError: path "etc/x" must be an absolute path (the uid was never read)
 * ```
 */
export function validateLiterals(validate: (args: never) => void, args: Record<string, unknown>, references: ReadonlyArray<ReadonlyArray<string>>): Error | undefined {
  let readReference = false;
  const tracked = track(args, references, () => (readReference = true));
  try {
    validate(tracked as never);
    return undefined;
  } catch (error) {
    if (readReference) return undefined;
    // The same path on the plain arguments (it reads the same values) must throw the same: else the proxy caused it (structuredClone refuses one).
    return sameErrorWithout(validate, args, error as Error);
  }
}

function sameErrorWithout(validate: (args: never) => void, args: Record<string, unknown>, error: Error): Error | undefined {
  try {
    validate(args as never);
  } catch (plain) {
    return (plain as Error)?.message === error?.message ? error : undefined;
  }
  return undefined;
}

/** `value` behind a proxy that calls `onRead` when a reference, or anything holding one, is read whole. */
function track(value: object, references: ReadonlyArray<ReadonlyArray<string>>, onRead: () => void): object {
  const below = (key: string | symbol) => (typeof key === 'string' ? references.filter((r) => r[0] === key).map((r) => r.slice(1)) : []);
  return new Proxy(value, {
    get(target, key, receiver) {
      const item: unknown = Reflect.get(target, key, receiver);
      const inner = below(key);
      if (inner.length === 0) return item;
      if (inner.some((r) => r.length === 0) || typeof item !== 'object' || item === null) {
        onRead();
        return item;
      }
      return track(item, inner, onRead);
    },
    // A descriptor hands out the raw value, references and all.
    getOwnPropertyDescriptor(target, key) {
      if (below(key).length > 0) onRead();
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
  });
}
