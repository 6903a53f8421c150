import * as t from 'io-ts';
import { describe, expect, it } from 'vitest';
import { defineStep, memoryJournal, transaction } from '@unwind/core';
import { failingStep } from '@unwind/core/testing';

// The runner keeps per finished step only its `before` (and arguments that came from
// earlier steps), and builds what a rollback or the commit actions need when they run:
// each undo and commit action must still get exactly its own step's arguments, before and after.
type Call = { phase: string; args: { n: number }; before: { seen: number }; after: { doubled: number } | undefined };

function recordingKind(calls: Call[], failDoAt?: number) {
  return defineStep({
    type: 'test.recording',
    package: '@unwind/core/testing',
    args: t.type({ n: t.number }),
    before: t.type({ seen: t.number }),
    after: t.type({ doubled: t.number }),
    describe: (a) => `step ${a.n}`,
    prepare: async (a) => ({ seen: a.n * 10 }),
    do: async (a) => {
      if (a.n === failDoAt) throw new Error('do failed');
      return { doubled: a.n * 2 };
    },
    undo: async (args, before, after) => {
      calls.push({ phase: 'undo', args, before, after });
    },
    commit: async (args, before, after) => {
      calls.push({ phase: 'commit', args, before, after });
    },
  });
}

describe('what undo and commit actions get for each started step', () => {
  it('a rollback undoes every started step, newest first, with its own arguments (computed ones too), before and after', async () => {
    const calls: Call[] = [];
    const kind = recordingKind(calls, 4);
    const tx = transaction('rollback', { journal: memoryJournal(), handleSignals: false });
    const first = tx.add(kind({ n: 1 }));
    tx.add(kind((get) => ({ n: get(first).doubled + 1 }))); // n = 3
    tx.add(kind({ n: 4 })); // do fails: undone with no after
    tx.add(kind({ n: 5 })); // never reached
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(calls).toEqual([
      { phase: 'undo', args: { n: 4 }, before: { seen: 40 }, after: undefined },
      { phase: 'undo', args: { n: 3 }, before: { seen: 30 }, after: { doubled: 6 } },
      { phase: 'undo', args: { n: 1 }, before: { seen: 10 }, after: { doubled: 2 } },
    ]);
    expect(outcome.steps.map((s) => [s.description, s.status])).toEqual([
      ['step 1', 'undone'],
      ['step 3', 'undone'],
      ['step 4', 'undone'],
      ['step 5', 'not-started'],
    ]);
  });

  it('commit actions run oldest first with each step\'s own arguments, before and after', async () => {
    const calls: Call[] = [];
    const kind = recordingKind(calls);
    const tx = transaction('commit', { journal: memoryJournal(), handleSignals: false });
    const first = tx.add(kind({ n: 1 }));
    tx.add(kind((get) => ({ n: get(first).doubled + 1 })));
    const outcome = await tx.run();
    expect(outcome.status).toBe('committed');
    expect(calls).toEqual([
      { phase: 'commit', args: { n: 1 }, before: { seen: 10 }, after: { doubled: 2 } },
      { phase: 'commit', args: { n: 3 }, before: { seen: 30 }, after: { doubled: 6 } },
    ]);
    expect(outcome.steps.map((s) => s.status)).toEqual(['committed', 'committed']);
  });
});

describe('step reports', () => {
  it('keep their fields in one order whether verified, failed or never reached, label or not', async () => {
    const calls: Call[] = [];
    const kind = recordingKind(calls);
    const tx = transaction('reports', { journal: memoryJournal(), handleSignals: false });
    tx.add(kind({ n: 1 }));
    tx.add(kind({ n: 2 }, { label: 'second' }));
    tx.add(failingStep({ message: 'injected' }, { label: 'failing' }));
    tx.add(kind({ n: 4 }, { label: 'fourth' }));
    tx.add(kind({ n: 5 }));
    const outcome = await tx.run();
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.steps.map((s) => Object.keys(s))).toEqual([
      ['index', 'type', 'description', 'status', 'attempts', 'durationMs', 'undo'],
      ['index', 'type', 'description', 'status', 'attempts', 'label', 'durationMs', 'undo'],
      ['index', 'type', 'description', 'status', 'attempts', 'label', 'error', 'durationMs', 'undo'],
      ['index', 'type', 'description', 'status', 'attempts', 'label'],
      ['index', 'type', 'description', 'status', 'attempts'],
    ]);
    expect(outcome.steps[2]).toMatchObject({ index: 2, type: 'test.fail', description: 'fail on purpose (injected)', status: 'undone', attempts: 1, label: 'failing' });
    expect(outcome.steps[2]?.error?.message).toBe('injected');
    expect(outcome.steps[3]).toEqual({ index: 3, type: 'test.recording', description: 'step 4', status: 'not-started', attempts: 0, label: 'fourth' });
  });
});
