import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { editDatabase } from './edit.js';
import { applyCaptured, captureLines } from './lines.js';

const passwd = ['root:x:0:0::/root:/bin/sh', 'carol:x:1001:1001::/home/carol:/bin/sh', 'bob:x:1002:1002::/home/bob:/bin/sh', 'dave:x:1003:1003::/home/dave:/bin/sh'];

describe('exact-line restore', () => {
  it('puts a removed line back between its old neighbours', () => {
    const c = { file: 'passwd' as const, key: 'bob', lines: [passwd[2]!], prev: 'carol', next: 'dave', index: 2 };
    expect(applyCaptured(passwd.filter((l) => !l.startsWith('bob:')), [c])).toEqual(passwd);
  });

  it('replaces a changed line in place and removes a line that did not exist before', () => {
    const changed = passwd.map((l) => l.replace('bob:x:1002:1002::/home/bob:/bin/sh', 'bob:x:1002:1002::/home/bob:/bin/bash'));
    const captured = [
      { file: 'passwd' as const, key: 'bob', lines: [passwd[2]!], prev: 'carol', next: 'dave', index: 2 },
      { file: 'passwd' as const, key: 'eve', lines: [], prev: null, next: null, index: 4 },
    ];
    expect(applyCaptured([...changed, 'eve:x:1004:1004::/home/eve:/bin/sh'], captured)).toEqual(passwd);
  });

  it('falls back to the old index when the previous neighbour is gone; first lines stay first', () => {
    const captured = [
      { file: 'passwd' as const, key: 'root', lines: [passwd[0]!], prev: null, next: 'carol', index: 0 },
      { file: 'passwd' as const, key: 'bob', lines: [passwd[2]!], prev: 'carol', next: 'dave', index: 2 },
    ];
    expect(applyCaptured([passwd[1]!, passwd[3]!].filter((l) => !l.startsWith('carol')), captured)).toEqual([passwd[0], passwd[2], passwd[3]]);
  });

  it('restores neighbours captured together in their old order', () => {
    const captured = ['carol', 'bob'].map((key, i) => ({ file: 'passwd' as const, key, lines: [passwd[i + 1]!], prev: i === 0 ? 'root' : 'carol', next: i === 0 ? 'bob' : 'dave', index: i + 1 }));
    expect(applyCaptured([passwd[0]!, passwd[3]!], captured)).toEqual(passwd);
  });

  it('editDatabase rewrites a real file atomically, keeping its mode; nothing is left beside it', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-lines-'));
    try {
      fs.mkdirSync(join(dir, 'etc'));
      const file = join(dir, 'etc/passwd');
      fs.writeFileSync(file, `${passwd.join('\n')}\n`, { mode: 0o640 });
      fs.chmodSync(file, 0o640);
      const captured = captureLines(dir, { passwd: ['bob', 'eve'] });
      fs.writeFileSync(file, `${[passwd[0], passwd[1], passwd[3], 'eve:x:1:1::/:/bin/sh'].join('\n')}\n`);
      expect(await editDatabase(dir, 'passwd', (lines) => applyCaptured(lines, captured))).toBe(true);
      expect(fs.readFileSync(file, 'utf8')).toBe(`${passwd.join('\n')}\n`);
      expect(fs.statSync(file).mode & 0o777).toBe(0o640);
      expect(fs.readdirSync(join(dir, 'etc'))).toEqual(['passwd']);
      expect(await editDatabase(dir, 'passwd', (lines) => applyCaptured(lines, captured))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('waits for a lock held by a live process and takes over a stale one', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'unwind-lines-'));
    try {
      fs.mkdirSync(join(dir, 'etc'));
      const file = join(dir, 'etc/group');
      fs.writeFileSync(file, 'a:x:1:\n');
      const captured = [{ file: 'group' as const, key: 'b', lines: ['b:x:2:'], prev: 'a', next: null, index: 1 }];
      const restore = () => editDatabase(dir, 'group', (lines) => applyCaptured(lines, captured));
      // Held by a live process (ours): the edit waits until it is released.
      fs.writeFileSync(`${file}.lock`, String(process.pid));
      let released = false;
      setTimeout(() => {
        released = true;
        fs.rmSync(`${file}.lock`);
      }, 300);
      await restore();
      expect(released).toBe(true);
      fs.writeFileSync(file, 'a:x:1:\n');
      fs.writeFileSync(`${file}.lock`, '999999999'); // no such pid: stale, taken over at once
      await restore();
      expect(fs.readFileSync(file, 'utf8')).toBe('a:x:1:\nb:x:2:\n');
      expect(fs.existsSync(`${file}.lock`)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
