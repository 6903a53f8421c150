import { describe, expect, it } from 'vitest';
import { encodeLine, type JournalRecord } from '../src/index.js';
import { commitPointOnDisk, transactionIdOf } from '../src/testing/crash-states/explore.js';
import type { ModelEntry } from '../src/testing/crash-states/model.js';
import type { TraceOperation } from '../src/testing/crash-states/trace.js';

// The power-loss explorer's oracle: which tree recovery must give for a crash state.
const id = '20261207T030000000Z-explored-abcdef';
const earlier = '20261206T030000000Z-earlier-123456';
const journal = (begins: string, committed: boolean): string => {
  const records: JournalRecord[] = [
    { kind: 'begin', format: 1, id: begins, name: 'x', pid: 1, host: 'h', seq: 1, at: 1 },
    ...(committed ? [{ kind: 'commit-point', seq: 2, at: 2 } as JournalRecord] : []),
  ];
  return Buffer.from(records.map((record) => encodeLine(record)).join('')).toString('base64');
};
const entry = (directory: string, data: string): ModelEntry => ({ path: `journal/${directory}/journal.jsonl`, id: directory, type: 'file', mode: 0o600, uid: 0, gid: 0, data });

describe('the power-loss oracle: whose commit point is on the disk', () => {
  it('a journal in the directory its begin names counts; one under another name does not', () => {
    expect(commitPointOnDisk([entry(id, journal(id, true))], id)).toBe(true);
    expect(commitPointOnDisk([entry(id, journal(id, false))], id)).toBe(false);
    // The earlier journal, still under the new transaction's name: not this transaction's commit point.
    expect(commitPointOnDisk([entry(id, journal(earlier, true))], id)).toBe(false);
  });

  it('in the reusable directory (the takeover\'s rename lost), only a journal whose begin names the explored transaction counts', () => {
    expect(commitPointOnDisk([entry('.reusable', journal(id, true))], id)).toBe(true);
    expect(commitPointOnDisk([entry('.reusable', journal(id, false))], id)).toBe(false);
    expect(commitPointOnDisk([entry('.reusable', journal(earlier, true))], id)).toBe(false);
    expect(commitPointOnDisk([entry('.reusable', journal(id, true))])).toBe(false);
  });

  it('the explored transaction is the one whose begin the trace wrote first', () => {
    const write = (text: string): TraceOperation => ({ op: 'write', id: 'f', offset: 0, data: Buffer.from(text).toString('base64'), path: '/j', call: 'writeSync' }) as TraceOperation;
    const line = encodeLine({ kind: 'begin', format: 2, id, name: 'x', pid: 1, host: 'h', seq: 1, at: 1 } as JournalRecord);
    expect(transactionIdOf([write('lock\n'), write(`${line}\0\0`)])).toBe(id);
    expect(transactionIdOf([write('lock\n')])).toBeUndefined();
  });
});
