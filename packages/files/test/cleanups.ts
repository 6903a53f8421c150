import { afterEach } from 'vitest';

/**
 * Run after each test, newest first (the hook is registered by importing
 * this module); a cleanup that throws is reported and the rest still run.
 */
export const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      cleanup();
    } catch (error) {
      console.warn('cleanup failed:', error);
    }
  }
});
