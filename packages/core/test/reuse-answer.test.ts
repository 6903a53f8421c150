import { describe, expect, it } from 'vitest';
import { reuseAnswer } from '@unwind/core';

describe('reuseAnswer', () => {
  it('the same key within the time is answered from the last answer; another key is asked again', () => {
    const asked: string[] = [];
    const answer = reuseAnswer(60_000, (key: string) => {
      asked.push(key);
      return `${key}#${asked.length}`;
    });
    expect(answer('a')).toBe('a#1');
    expect(answer('a')).toBe('a#1');
    expect(answer('b')).toBe('b#2');
    // Only the last key is kept.
    expect(answer('a')).toBe('a#3');
    expect(asked).toEqual(['a', 'b', 'a']);
  });

  it('once the time is past, the same key is asked again', async () => {
    let asked = 0;
    const answer = reuseAnswer(5, (_key: string) => ++asked);
    expect(answer('a')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(answer('a')).toBe(2);
  });

  it('an error is never kept: the next ask tries again', () => {
    let calls = 0;
    const answer = reuseAnswer(60_000, (_key: string) => {
      calls += 1;
      if (calls === 1) throw new Error('directory service down');
      return calls;
    });
    expect(() => answer('k')).toThrow('directory service down');
    expect(answer('k')).toBe(2);
    expect(answer('k')).toBe(2);
  });

  it('a key compared by the equality given: an equal array is the same question, a different one is asked', () => {
    const asked: string[][] = [];
    const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((name, i) => name === b[i]);
    const answer = reuseAnswer(60_000, (names: readonly string[]) => {
      asked.push([...names]);
      return asked.length;
    }, same);
    expect(answer(['sudo', 'wheel'])).toBe(1);
    expect(answer(['sudo', 'wheel'])).toBe(1); // another array, the same names
    expect(answer(['sudo'])).toBe(2);
    expect(answer(['wheel', 'sudo'])).toBe(3); // order counts: the answer lists them in order
    expect(asked).toEqual([['sudo', 'wheel'], ['sudo'], ['wheel', 'sudo']]);
  });
});
