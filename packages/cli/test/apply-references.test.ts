import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { treeState } from '@unwind/core/testing';
import { newSandbox, requireBuilt, runCleanups, unwind } from './helpers.js';
import { writeTransactionFile } from './apply-helpers.js';

afterEach(runCleanups);
beforeAll(() => requireBuilt());

describe("unwind apply: a step with references still has its literal fields validated before anything runs", () => {
  it('a mistake the kind catches without reading the reference: exit 4 at check time, the earlier step never runs', async () => {
    const s = newSandbox();
    const made = join(s.dir, 'made');
    const file = writeTransactionFile(s.base, 'refs.json', {
      name: 'literal mistake',
      steps: [
        { kind: 'files.writeFile', id: 'w', args: { path: made, content: 'made' } },
        // The path is relative (writeFile's validate refuses it first), whatever the uid turns out to be.
        { kind: 'files.writeFile', args: { path: 'etc/app.conf', content: '', uid: { $result: 'w.uid' } } },
      ],
    });
    const before = treeState(s.base);
    const r = await unwind(['apply', file, '--root', s.root, '--json']);
    expect(r.code, r.stderr).toBe(4);
    const report = JSON.parse(r.stdout) as { problems: Array<{ pointer: string; message: string }> };
    expect(report.problems).toEqual([expect.objectContaining({ pointer: '/steps/1/args', message: expect.stringMatching(/absolute path/) })]);
    expect(fs.existsSync(made)).toBe(false);
    expect(fs.existsSync(s.root)).toBe(false);
    expect(treeState(s.base)).toEqual(before);
  });

  it("the review's case: ensureUser's name is refused at check time, though its uid is a reference", async () => {
    const s = newSandbox();
    const file = writeTransactionFile(s.base, 'user.yaml', 'name: x\nsteps:\n  - kind: users.ensureGroup\n    id: g\n    args: { name: unwind-never }\n  - kind: users.ensureUser\n    args: { name: "-rf", home: "../etc", uid: { $result: g.gid } }\n');
    const r = await unwind(['apply', file, '--root', s.root, '--dry-run']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/line 7, \/steps\/1\/args: user name "-rf" must not start with "-"/);
  });

  it('a file whose referencing step is valid still runs (the reference is not judged by a stand-in value)', async () => {
    const s = newSandbox();
    const file = writeTransactionFile(s.base, 'ok.json', {
      name: 'valid reference',
      steps: [
        { kind: 'files.writeFile', id: 'w', args: { path: join(s.dir, 'made'), content: 'made', mode: 0o640 } },
        { kind: 'files.writeFile', args: { path: join(s.dir, 'f'), content: 'x', mode: { $result: 'w.mode' } } },
      ],
    });
    const r = await unwind(['apply', file, '--root', s.root]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(join(s.dir, 'f'), 'utf8')).toBe('x');
    expect(fs.statSync(join(s.dir, 'f')).mode & 0o7777).toBe(0o640);
  });
});

describe('unwind apply: a misspelled key whose value is a reference is an unknown property', () => {
  it('gdi: { $result: first.gid } is reported (exit 4), not silently dropped; the earlier step never runs', async () => {
    const s = newSandbox();
    const made = join(s.dir, 'made');
    const file = writeTransactionFile(s.base, 'typo.yaml', `name: typo\nsteps:\n  - kind: files.writeFile\n    id: first\n    args: { path: ${made}, content: made }\n  - kind: files.writeFile\n    args: { path: ${s.dir}/f, content: x, gdi: { $result: first.gid } }\n`);
    const before = treeState(s.base);
    const r = await unwind(['apply', file, '--root', s.root, '--json']);
    expect(r.code, r.stderr).toBe(4);
    const report = JSON.parse(r.stdout) as { problems: Array<{ pointer: string; message: string }> };
    expect(report.problems).toEqual([expect.objectContaining({ pointer: '/steps/1/args/gdi', message: expect.stringMatching(/unknown property "gdi"/) })]);
    expect(fs.existsSync(made)).toBe(false);
    expect(fs.existsSync(s.root)).toBe(false);
    expect(treeState(s.base)).toEqual(before);
  });

  it('a reference held by a known key is still not type-checked (gid: { $result: first.gid })', async () => {
    const s = newSandbox();
    const file = writeTransactionFile(s.base, 'ok.yaml', `name: ok\nsteps:\n  - kind: files.writeFile\n    id: first\n    args: { path: ${s.dir}/made, content: made }\n  - kind: files.writeFile\n    args: { path: ${s.dir}/f, content: x, gid: { $result: first.gid } }\n`);
    const r = await unwind(['apply', file, '--root', s.root]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(join(s.dir, 'f'), 'utf8')).toBe('x');
  });
});
