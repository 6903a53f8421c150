import { describe, expect, it } from 'vitest';
import { validateLiterals } from '../src/apply/literal-validate.js';

const ref = { $result: 'w.uid' };

describe('validateLiterals: an error is reported only when validate reached it without reading a reference', () => {
  it('a literal mistake found before any reference is read is returned', () => {
    const validate = (a: { path: string; uid: unknown }) => {
      if (!a.path.startsWith('/')) throw new Error(`path ${a.path} must be absolute`);
      if (typeof a.uid !== 'number') throw new Error('uid must be a number');
    };
    expect(validateLiterals(validate as never, { path: 'etc/x', uid: ref }, [['uid']])?.message).toBe('path etc/x must be absolute');
  });

  it('an error after a reference was read, here or deep in an array, proves nothing', () => {
    const byUid = (a: { uid: unknown }) => {
      if (typeof a.uid !== 'number') throw new Error('uid must be a number');
    };
    expect(validateLiterals(byUid as never, { uid: ref }, [['uid']])).toBeUndefined();
    const byEvery = (a: { groups: unknown[] }) => {
      for (const g of a.groups) if (typeof g !== 'string') throw new Error('groups are names');
    };
    expect(validateLiterals(byEvery as never, { groups: ['wheel', ref] }, [['groups', '1']])).toBeUndefined();
    // A spread reads every value, the reference too.
    const spread = (a: object) => {
      const copy: Record<string, unknown> = { ...a };
      if (copy.x === undefined) throw new Error('no x');
    };
    expect(validateLiterals(spread as never, { uid: ref }, [['uid']])).toBeUndefined();
  });

  it('an error the proxy itself caused (a clone of it fails) is not reported', () => {
    const clones = (a: object) => void structuredClone(a);
    expect(validateLiterals(clones as never, { path: '/x', uid: ref }, [['uid']])).toBeUndefined();
  });
});
