import * as fs from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isErrorCode } from '@unwind/core';
import { workspaceRoot } from '@unwind/core/testing';

// ERROR_CODES promises every code an unwind error can carry, so a program may
// switch on them; a code missing from it reaches a caller as a foreign one
// (`foreignCode`). The compiler cannot hold the list to that, since
// UnwindError also takes a caller's own codes: this reads every error raised
// in the packages' sources (`new UnwindError('CODE'` and an error class's
// `super('CODE'`) and checks each against the list.
const root = workspaceRoot(import.meta.dirname);

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const raised = fs.readdirSync(join(root, 'packages')).flatMap((name) => {
  const src = join(root, 'packages', name, 'src');
  if (!fs.existsSync(src)) return [];
  return sources(src).flatMap((file) => [...fs.readFileSync(file, 'utf8').matchAll(/(?:new\s+UnwindError|\bsuper)\(\s*'([A-Z][A-Z0-9_]*)'/g)].map((match) => ({ code: match[1]!, file: relative(root, file) })));
});

describe('ERROR_CODES', () => {
  it('lists every code raised in the packages', () => {
    // The scan finds the errors it is meant to (a broken pattern would find none and pass).
    expect(new Set(raised.map((r) => r.code)).size).toBeGreaterThan(40);
    expect(raised.map((r) => r.code)).toContain('NO_PROC');
    expect(raised.filter((r) => !isErrorCode(r.code))).toEqual([]);
  });

  it('lists each code once', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });
});
