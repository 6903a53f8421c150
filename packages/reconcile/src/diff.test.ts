import { describe, expect, it } from 'vitest';
import { diff, sortKeys } from './diff.js';

interface Item {
  name: string;
  body?: string;
  marked?: boolean;
}
const rules = {
  key: (i: Item) => i.name,
  ownership: (a: Item) => a.marked === true,
  protect: (k: string) => (k === 'root' ? 'root account' : k === 'deny'),
  differs: (d: Item, a: Item) => d.body !== a.body,
};

describe('diff', () => {
  it('sorts keys in code-point order, whatever the input order', () => {
    expect(sortKeys(['b', 'a', 'B', 'a1', '_'])).toEqual(['B', '_', 'a', 'a1', 'b']);
    const entries = diff([{ name: 'c' }, { name: 'a' }], [{ name: 'b', marked: true }], rules);
    expect(entries.map((e) => e.key)).toEqual(['a', 'b', 'c']);
  });

  it('creates the missing, updates the different, checks the same', () => {
    const entries = diff(
      [{ name: 'new' }, { name: 'same', body: 'x' }, { name: 'changed', body: 'y' }],
      [{ name: 'same', body: 'x', marked: true }, { name: 'changed', body: 'old', marked: true }],
      rules,
    );
    expect(entries.map((e) => [e.key, e.kind])).toEqual([['changed', 'update'], ['new', 'create'], ['same', 'check']]);
  });

  it('removes only what carries the marker and is not protected', () => {
    const entries = diff([], [
      { name: 'ours', marked: true },
      { name: 'human', marked: false },
      { name: 'root', marked: true },
      { name: 'deny', marked: true },
    ], rules);
    expect(Object.fromEntries(entries.map((e) => [e.key, e.kind]))).toEqual({ ours: 'remove', human: 'keep-unowned', root: 'keep-protected', deny: 'keep-protected' });
    expect(entries.find((e) => e.key === 'root')?.reason).toBe('root account');
    expect(entries.find((e) => e.key === 'deny')?.reason).toBe('protected');
  });

  it('never adopts: a desired key that exists without the marker is a conflict', () => {
    expect(diff([{ name: 'alice', body: 'x' }], [{ name: 'alice', body: 'x' }], rules)).toEqual([{ key: 'alice', kind: 'conflict', desired: { name: 'alice', body: 'x' }, actual: { name: 'alice', body: 'x' } }]);
  });

  it('without differs, an owned desired item is always drift-checked', () => {
    const { differs: _, ...plain } = rules;
    expect(diff([{ name: 'a', body: '1' }], [{ name: 'a', body: '2', marked: true }], plain)[0]?.kind).toBe('check');
  });

  it('refuses duplicate keys on either side instead of guessing', () => {
    expect(() => diff([{ name: 'a' }, { name: 'a' }], [], rules)).toThrow(/twice/);
    expect(() => diff([], [{ name: 'a', marked: true }, { name: 'a', marked: true }], rules)).toThrow(/refusing to guess/);
  });

  it('uses actualKey when actual items have another shape', () => {
    const entries = diff([{ name: 'a' }], [{ user: 'a', managed: true }], { key: (d: Item) => d.name, actualKey: (a: { user: string }) => a.user, ownership: (a: { managed: boolean }) => a.managed });
    expect(entries[0]?.kind).toBe('check');
  });
});
