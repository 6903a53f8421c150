// The Go section of docs/apply.md is main.go, the file the install test
// builds and runs: a change to either without the other fails here.
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '../../..');

describe('the Go section of docs/apply.md', () => {
  it('is exactly examples/apply-go/main.go, the only ```go block of the page', () => {
    const page = fs.readFileSync(join(repoRoot, 'docs', 'apply.md'), 'utf8');
    const blocks = [...page.matchAll(/```go\n([\s\S]*?)```/g)].map((match) => match[1]);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toBe(fs.readFileSync(join(repoRoot, 'examples', 'apply-go', 'main.go'), 'utf8'));
  });
});
