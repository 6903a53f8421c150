import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalCorruptError, UnsupportedJournalFormatError } from '../errors.js';
import { parseJournal, readJournalFile, readJournalFileSliced } from './read.js';
import { bindingOf, encodeBoundLine, encodeLine, type JournalRecord } from './records.js';

const begin: JournalRecord = { kind: 'begin', format: 1, id: 'x', name: 'n', pid: 1, host: 'h', seq: 1, at: 0 };
const prepared: JournalRecord = { kind: 'prepared', step: 0, type: 't.x', package: '@t/x', description: 'd', args: {}, before: null, seq: 2, at: 0 };
const done: JournalRecord = { kind: 'done', step: 0, after: null, attempts: 1, seq: 3, at: 0 };

describe('parseJournal (pure: text in, records out)', () => {
  const text = [begin, prepared, done].map(encodeLine).join('');

  it('reads every checksummed record', () => {
    const result = parseJournal('j', text);
    expect(result.records.map((r) => r.kind)).toEqual(['begin', 'prepared', 'done']);
    expect(result.tornTail).toBe(false);
    expect(result.validLength).toBe(Buffer.byteLength(text));
  });

  it('takes zeros alone after the last record for the space the writer reserved: not torn, not counted', () => {
    const result = parseJournal('j', text + '\0'.repeat(4000));
    expect(result.records).toHaveLength(3);
    expect(result.tornTail).toBe(false);
    expect(result.validLength).toBe(Buffer.byteLength(text));
  });

  it('ignores a torn last line: cut short, garbled or zero-filled, but never finished with its newline', () => {
    for (const tail of [encodeLine({ ...done, seq: 4 }).slice(0, 20), `${encodeLine({ ...done, seq: 4 }).slice(0, 20)}\0\0\0\0\0\0\0\0\0\0`, 'deadbeef {"seq":4}']) {
      const result = parseJournal('j', text + tail);
      expect(result.records).toHaveLength(3);
      expect(result.tornTail).toBe(true);
      expect(result.validLength).toBe(Buffer.byteLength(text));
    }
  });

  it('ends at a block of NUL bytes (an un-synced append a power cut lost) and ignores the records after it', () => {
    // The file's size reached the disk, the block of `done` did not, a later un-synced record did.
    const hole = '\0'.repeat(encodeLine(done).length);
    const result = parseJournal('j', [begin, prepared].map(encodeLine).join('') + hole + encodeLine({ ...done, seq: 4 }) + encodeLine({ ...done, seq: 5 }));
    expect(result.records.map((r) => r.kind)).toEqual(['begin', 'prepared']);
    expect(result.tornTail).toBe(true);
    expect(result.validLength).toBe(Buffer.byteLength([begin, prepared].map(encodeLine).join('')));
  });

  it('refuses a bad last line that ends with its newline: a finished line is corruption, not a torn tail', () => {
    for (const tail of ['deadbeef {"seq":4}\n', encodeLine({ ...done, seq: 4 }).replace('"attempts":1', '"attempts":2')]) {
      expect(() => parseJournal('j', text + tail)).toThrowError(new JournalCorruptError('j', 4, 'checksum mismatch or malformed record'));
    }
  });

  it('refuses a bad line that is not the last, naming it', () => {
    const lines = text.split('\n');
    lines[1] = lines[1]!.replace('"d"', '"e"');
    expect(() => parseJournal('j', lines.join('\n'))).toThrowError(new JournalCorruptError('j', 2, 'checksum mismatch or malformed record'));
  });

  it('refuses a journal that does not start with begin, or has another format', () => {
    expect(() => parseJournal('j', encodeLine({ ...prepared, seq: 1 }) + encodeLine(done))).toThrow(/first record is "prepared"/);
    expect(() => parseJournal('j', encodeLine({ ...begin, format: 3 } as JournalRecord))).toThrow(UnsupportedJournalFormatError);
  });

  it('an empty journal has no records', () => {
    expect(parseJournal('j', '').records).toEqual([]);
  });
});

describe('parseJournal of a reused journal (format 2: written over an earlier journal\'s file)', () => {
  const id = '20261205T091552106Z-kept-ffc574';
  const bind = bindingOf(id);
  const reusedBegin = { ...begin, format: 2, id } as JournalRecord;
  const own = (records: JournalRecord[]) => encodeLine(records[0]!) + records.slice(1).map((r) => encodeBoundLine(r, bind)).join('');

  it('reads lines bound to its id, and zeros after them as the reserve', () => {
    const result = parseJournal('j', own([reusedBegin, prepared, done]) + '\0'.repeat(500));
    expect(result.records.map((r) => r.kind)).toEqual(['begin', 'prepared', 'done']);
    expect(result.tornTail).toBe(false);
  });

  // A torn first write (a disk keeps a block's sectors in any order): its first sector new, the earlier journal's bytes after it.
  const torn = (earlier: string, written: string) => {
    const block = (text: string) => Buffer.concat([Buffer.from(text), Buffer.alloc(Math.max(0, 4096 - Buffer.byteLength(text)))]);
    return Buffer.concat([block(written).subarray(0, 512), block(earlier).subarray(512)]).toString('utf8');
  };
  const long = (record: JournalRecord) => ({ ...record, description: 'd'.repeat(300) }) as JournalRecord;
  // Earlier lines long enough to fill the block's first sectors, unbound (format 1) or bound to their own id.
  const earlierLines = (encode: (r: JournalRecord) => string) => [long(begin), long(prepared), done, long({ ...prepared, step: 1, seq: 4 }), { ...done, step: 1, seq: 5 }].map(encode).join('');

  it('never takes an earlier journal\'s line for one of its own, however well it fits', () => {
    for (const earlier of [earlierLines(encodeLine), earlierLines((r) => encodeBoundLine(r, bindingOf('20261205T091552100Z-old-aaaaaa')))]) {
      // Its first write's second record crosses into the second sector, where the earlier bytes stayed:
      // nothing of that write was acknowledged, so the journal ends after what its first sector holds.
      const text = torn(earlier, own([reusedBegin, long(prepared), done]));
      const result = parseJournal('j', text);
      expect(result.records.map((r) => r.kind)).toEqual(['begin']);
      expect(result.tornTail).toBe(true);
      // A line of its own after the earlier bytes: not a torn write but corruption.
      expect(() => parseJournal('j', text.replace(/\0+$/, '') + encodeBoundLine({ ...done, seq: 3 }, bind))).toThrowError(JournalCorruptError);
    }
  });

  it('an earlier line inside one sector, or past the first block, is corruption: a sector is written whole', () => {
    const earlier = encodeLine(prepared);
    // Right after its records, in the same sector as they are: the disk kept that sector's new bytes or none.
    expect(() => parseJournal('j', own([reusedBegin, prepared]) + earlier)).toThrowError(new JournalCorruptError('j', 3, 'checksum mismatch or malformed record'));
    expect(() => parseJournal('j', encodeLine(reusedBegin) + earlier)).toThrowError(new JournalCorruptError('j', 2, 'checksum mismatch or malformed record'));
    // Past the first 4096 bytes, where no earlier journal reached (only one of at most a block is reused).
    const many = own([reusedBegin, ...Array.from({ length: 60 }, (_, i) => ({ ...done, step: i, seq: i + 2 }) as JournalRecord)]);
    expect(Buffer.byteLength(many)).toBeGreaterThan(4096);
    expect(() => parseJournal('j', many + 'x'.repeat(600) + '\n')).toThrowError(JournalCorruptError);
  });

  it('its records and zeros to the first sector\'s end, the earlier journal\'s lines after it: no torn record, but bytes to cut', () => {
    const earlier = earlierLines((r) => encodeBoundLine(r, bindingOf('20261205T091552100Z-old-aaaaaa')));
    const records = own([reusedBegin, prepared]);
    const text = torn(earlier, records);
    expect(parseJournal('j', text)).toEqual({ records: [reusedBegin, prepared], validLength: Buffer.byteLength(records), tornTail: false, strayBytes: true });
    // Zeros short of the sector's end, or a line of its own after the sector: a torn tail, as any NUL line.
    const short = records + '\0'.repeat(100) + earlier.slice(Buffer.byteLength(records) + 100);
    expect(parseJournal('j', short)).toMatchObject({ records: [reusedBegin, prepared], tornTail: true, strayBytes: true });
    expect(parseJournal('j', text.replace(/\0+$/, '') + encodeBoundLine({ ...done, seq: 3 }, bind))).toMatchObject({ records: [reusedBegin, prepared], tornTail: true, strayBytes: true });
    // In a journal of its own file, stray bytes after zeros are a torn tail as ever.
    expect(parseJournal('j', encodeLine(begin) + '\0'.repeat(300) + 'x')).toMatchObject({ tornTail: true, strayBytes: true });
  });

  it('a bad line with a line of its own after it is corruption, not a torn tail', () => {
    const text = encodeLine(reusedBegin) + 'deadbeef {"seq":2}\n' + encodeBoundLine({ ...prepared, seq: 3 }, bind);
    expect(() => parseJournal('j', text)).toThrowError(new JournalCorruptError('j', 2, 'checksum mismatch or malformed record'));
  });
});

describe('readJournalFileSliced (recover() reads a long journal in slices)', () => {
  const lines = (steps: number) => [begin, ...Array.from({ length: steps }, (_, i) => ({ ...done, step: i, seq: i + 2 }))].map((r) => encodeLine(r as JournalRecord)).join('');

  it('reads the same records as readJournalFile, asking to pause every thousand lines', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-read-'));
    try {
      const path = join(dir, 'journal.jsonl');
      fs.writeFileSync(path, lines(4999) + '\0'.repeat(100));
      let asked = 0;
      const sliced = await readJournalFileSliced(path, () => {
        asked++;
        return Promise.resolve();
      });
      expect(sliced).toEqual(readJournalFile(path));
      expect(sliced.records).toHaveLength(5000);
      expect(asked).toBe(5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad line with the same error and line number', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-read-'));
    try {
      const path = join(dir, 'journal.jsonl');
      const text = lines(2500).split('\n');
      text[2100] = text[2100]!.replace('"attempts":1', '"attempts":2');
      fs.writeFileSync(path, text.join('\n'));
      await expect(readJournalFileSliced(path, () => undefined)).rejects.toThrowError(new JournalCorruptError(path, 2101, 'checksum mismatch or malformed record'));
      expect(() => readJournalFile(path)).toThrowError(new JournalCorruptError(path, 2101, 'checksum mismatch or malformed record'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
