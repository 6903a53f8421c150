import { describe, expect, it } from 'vitest';
import { causeOf, LockHeldError, serializeError, typedCause, UndoConflictError, UnfinishedTransactionError, VerificationError, type LockHolder } from '@unwind/core';

const holder: LockHolder = { pid: 4242, host: 'web-1', processStart: '777', acquiredAt: '2026-01-01T00:00:00.000Z', purpose: 'run' };

describe('typed causes', () => {
  it('the special causes carry their fields, from the error and from its journaled form alike', () => {
    const errors = [
      new LockHeldError('/var/lib/app/unwind/unwind.lock', holder),
      new UnfinishedTransactionError('/var/lib/app/unwind', ['20260101-a'], 'unwind recover --root /var/lib/app/unwind'),
      new UndoConflictError('/etc/app.conf', 'sha256 1', 'sha256 2'),
    ];
    for (const error of errors) expect(typedCause(serializeError(error))).toEqual(causeOf(error));
    expect(causeOf(errors[0])).toMatchObject({ code: 'LOCK_HELD', name: 'LockHeldError', holder });
    expect(causeOf(errors[1])).toMatchObject({ code: 'UNFINISHED_TRANSACTION', transactionIds: ['20260101-a'], resume: 'unwind recover --root /var/lib/app/unwind' });
    expect(causeOf(errors[2])).toMatchObject({ code: 'UNDO_CONFLICT', subject: '/etc/app.conf', expected: 'sha256 1', found: 'sha256 2' });
  });

  it('other unwind errors keep their code; system codes stay; any other code moves to foreignCode', () => {
    expect(causeOf(new VerificationError('no', { path: '/x' }))).toEqual({ name: 'VerificationError', code: 'VERIFY_FAILED', message: 'no', context: { path: '/x' } });
    expect(causeOf(Object.assign(new Error('full'), { code: 'ENOSPC' }))).toEqual({ name: 'Error', code: 'ENOSPC', message: 'full' });
    expect(causeOf(Object.assign(new Error('odd'), { code: 'MY_CODE' }))).toEqual({ name: 'Error', foreignCode: 'MY_CODE', message: 'odd' });
    expect(causeOf('a string')).toEqual({ name: 'NonError', message: 'a string' });
  });
});
