import createDebug from 'debug';
import { afterEach, describe, expect, it } from 'vitest';
import { isEnabled, logger, type Logger } from './log.js';

describe('isEnabled', () => {
  const saved = createDebug.disable();
  afterEach(() => createDebug.enable(saved));

  it('is false for the default logger while DEBUG names nothing of unwind (debug leaves `enabled` undefined then)', () => {
    createDebug.disable();
    const log = logger(`quiet-${Math.random()}`);
    expect(log.enabled).toBeFalsy();
    expect(isEnabled(log)).toBe(false);
  });

  it('is true for the default logger once its namespace is enabled', () => {
    createDebug.enable('unwind:*');
    expect(isEnabled(logger(`loud-${Math.random()}`))).toBe(true);
  });

  it('is true for a logger without `enabled`, false for one whose `enabled` is false', () => {
    const plain: Logger = () => {};
    expect(isEnabled(plain)).toBe(true);
    expect(isEnabled(Object.assign(() => {}, { enabled: false }))).toBe(false);
  });
});
