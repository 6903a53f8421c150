import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '@unwind/core';
import { temporaryDirectory } from '@unwind/core/testing';
import { contentHash } from '../src/content-hash.js';
import { rewriteLock, rewriteManifest } from '../src/rewrite.js';
import { joinSections, splitSections } from '../src/toml-edit.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const LOCK = `# kept: a comment the user wrote
[lock]
version = "1.0.0"

[lock.entries."a::skill"]
fetched = "2025-01-01T00:00:00"
content_hash = "${'1'.repeat(64)}"
note = 'single quotes stay'

[lock.entries."b::command"]   # trailing comment
content_hash = "${'2'.repeat(64)}"
fetched = "2025-01-02T00:00:00"
`;

describe('line-by-line TOML editing', () => {
  it('cutting into sections and joining gives the text back byte for byte, headers found by the TOML parser', () => {
    const text = `top = [\n  "[not a header]",\n]\n${LOCK}`;
    const sections = splitSections(text);
    expect(joinSections(sections)).toBe(text);
    expect(sections.map((s) => s.path.join('.'))).toEqual(['', 'lock', 'lock.entries.a::skill', 'lock.entries.b::command']);
  });

  it('a lock entry is rewritten in skillmeat\'s key order (other keys after); every other byte stays', () => {
    const edited = rewriteLock(LOCK, 'collection.lock', new Map([['a::skill', { content_hash: '3'.repeat(64), fetched: 'NOW', resolved_sha: 'abc1234' }]]));
    expect(edited).toBe(
      LOCK.replace(`fetched = "2025-01-01T00:00:00"\ncontent_hash = "${'1'.repeat(64)}"\nnote = 'single quotes stay'`, `content_hash = "${'3'.repeat(64)}"\nfetched = "NOW"\nresolved_sha = "abc1234"\nnote = "single quotes stay"`),
    );
    expect(rewriteLock(LOCK, 'collection.lock', new Map())).toBe(LOCK);
  });

  it('a lock entry written as an inline table is refused, not guessed at', () => {
    const inline = `[lock]\nversion = "1.0.0"\nentries = { "a::skill" = { content_hash = "${'1'.repeat(64)}", fetched = "x" } }\n`;
    expect(() => rewriteLock(inline, 'collection.lock', new Map([['a::skill', { content_hash: '3'.repeat(64), fetched: 'NOW' }]]))).toThrow(InvalidInputError);
  });

  it('a manifest key hidden in a multi-line string that looks like a header is caught by the re-parse', () => {
    const tricky = `[collection]\nname = "x"\nnote = """\n[[artifacts]]\nresolved_sha = "fake"\n"""\nupdated = "old"\n\n[[artifacts]]\nname = "a"\ntype = "skill"\npath = "skills/a"\norigin = "github"\nresolved_sha = "1111111"\n`;
    expect(() => rewriteManifest(tricky, 'collection.toml', new Map([['a::skill', { resolved_sha: '2222222' }]]), 'NOW')).toThrow(/cannot be rewritten line by line|not all written/);
  });
});

describe("skillmeat's content_hash", () => {
  it('hashes a directory as sorted relative paths and bytes, sorting component by component as Python sorts paths', () => {
    const dir = temporaryDirectory('unwind-content-hash-');
    cleanups.push(dir.remove);
    fs.mkdirSync(join(dir.path, 'a'));
    fs.mkdirSync(join(dir.path, 'a-b'));
    fs.writeFileSync(join(dir.path, 'a', 'b'), 'one');
    fs.writeFileSync(join(dir.path, 'a-b', 'x'), 'two');
    // As strings "a-b/x" < "a/b"; as paths ("a" < "a-b") a/b comes first.
    const expected = createHash('sha256').update('a/b').update('one').update('a-b/x').update('two').digest('hex');
    expect(contentHash(dir.path)).toBe(expected);
    expect(contentHash(join(dir.path, 'a', 'b'))).toBe(createHash('sha256').update('one').digest('hex'));
    fs.symlinkSync('b', join(dir.path, 'a', 'link'));
    expect(() => contentHash(dir.path)).toThrow(/not a plain file or directory/);
  });
});
