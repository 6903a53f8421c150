import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { analyzeRecords, fileJournal, listTransactions, transaction } from '@unwind/core';
import { failingStep, noopStep } from '@unwind/core/testing';
import { analyzeRecordsSliced } from '../src/journal/inspect.js';
import { tempDir } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** The records of a kept journal of `steps` no-op steps and a failing last one: prepared, done, verified, failed, the rollback and each undo. */
async function journalOf(steps: number) {
  const dir = tempDir();
  cleanups.push(dir.remove);
  const root = join(dir.path, 'journal');
  const tx = transaction('analyzed', { journal: fileJournal({ root, retention: { keepLast: 1 } }), handleSignals: false });
  for (let i = 0; i < steps; i++) tx.add(noopStep({}));
  tx.add(failingStep({ message: 'stop here' }));
  expect((await tx.run()).status).toBe('rolled-back');
  return listTransactions(root)[0]!.state!.records;
}

describe('analyzeRecordsSliced: recover()\'s analysis of a long journal, a slice at a time', () => {
  it('derives exactly what analyzeRecords derives, and lets the event loop run between slices', async () => {
    const records = await journalOf(1500);
    expect(records.length).toBeGreaterThan(4000);
    let pauses = 0;
    let timerRan = 0;
    const timer = setInterval(() => timerRan++, 0);
    try {
      const sliced = await analyzeRecordsSliced(records, false, () => {
        pauses++;
        return new Promise<void>((resolve) => setTimeout(resolve, 1));
      });
      expect(sliced).toEqual(analyzeRecords(records, false));
      expect(sliced.steps).toHaveLength(1501);
      expect(sliced.steps.every((s) => s.undone)).toBe(true);
    } finally {
      clearInterval(timer);
    }
    expect(pauses).toBe(Math.floor(records.length / 1000));
    expect(timerRan).toBeGreaterThan(0);
  });

  it('a pause that answers undefined (the slice not used up) is not waited for', async () => {
    const records = await journalOf(10);
    const sliced = await analyzeRecordsSliced(records, true, () => undefined);
    expect(sliced).toEqual(analyzeRecords(records, true));
  });
});
