import { describe, expect, it } from 'vitest';
import { randomHex } from '../src/random-hex.js';

// The pool behind transaction ids and lock temporaries: every draw is fresh hex of the asked
// length, also across a refill, and an impossible draw is refused rather than short.
describe('randomHex', () => {
  it('hands out hex of the asked length, across many refills of its pool, without repeating long draws', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const hex = randomHex(i % 2 === 0 ? 6 : 16);
      expect(hex).toMatch(i % 2 === 0 ? /^[0-9a-f]{12}$/ : /^[0-9a-f]{32}$/);
      if (hex.length === 32) {
        expect(seen.has(hex)).toBe(false); // 128 random bits: a repeat means bytes were handed out twice
        seen.add(hex);
      }
    }
  });

  it('refuses a draw larger than its pool', () => {
    expect(() => randomHex(4096)).toThrow(RangeError);
  });
});
