import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ALLOW_MARKER, readDesired, validateContainer } from './desired.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function dir(files: Record<string, string | null>): string {
  const d = fs.mkdtempSync(join(tmpdir(), 'unwind-desired-'));
  dirs.push(d);
  for (const [name, content] of Object.entries(files)) {
    if (content === null) fs.mkdirSync(join(d, name));
    else fs.writeFileSync(join(d, name), content);
  }
  return d;
}
const unit = '[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/true\n';

describe('readDesired', () => {
  it('reads <name>.service files in sorted order', () => {
    const { containers, problems } = readDesired(dir({ 'b.service': unit, 'a.service': unit }));
    expect(problems).toEqual([]);
    expect(containers.map((c) => [c.name, c.unit])).toEqual([['a', 'a.service'], ['b', 'b.service']]);
  });

  it('an unknown subdirectory is an error unless allowed by name or by marker', () => {
    const d = dir({ 'a.service': unit, transforms: null, marked: null, '.git': null });
    fs.writeFileSync(join(d, 'marked', ALLOW_MARKER), '');
    expect(readDesired(d).problems.map((p) => p.message)).toEqual([expect.stringMatching(/^\.git\/: unknown/), expect.stringMatching(/^transforms\/: unknown/)]);
    expect(readDesired(d, { allowedDirs: ['.git', 'transforms'] }).problems).toEqual([]);
  });

  it('a missing directory is one problem, not a crash', () => {
    expect(readDesired('/nonexistent/unwind-desired').problems).toEqual([{ message: expect.stringMatching(/cannot read the desired directory/) }]);
  });
});

describe('validateContainer', () => {
  const c = (name: string, content = unit) => ({ name, unit: `${name}.service`, content, source: '' });
  it('accepts a user name and a unit with [Service]', () => expect(validateContainer(c('web-1'))).toEqual([]));
  it.each(['Web', '-rf', 'a b', '1abc'.padEnd(40, 'x'), 'ä'])('refuses the name %j', (name) => expect(validateContainer(c(name)).length).toBeGreaterThan(0));
  it('refuses contents that are not a service unit', () => {
    expect(validateContainer(c('web', 'rm -rf /'))).toHaveLength(1);
    expect(validateContainer(c('web', '[Unit]\nDescription=x\n'))).toEqual(['web.service has no [Service] section']);
    expect(validateContainer(c('web', `${unit}\0`))).toHaveLength(1);
  });
});
