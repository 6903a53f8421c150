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

  it('reads quadlet-deploy\'s layout: Quadlet files at the top, a transform sub-directory merged with its transform', () => {
    const transforms = dir({ 'tailnet.container': '[Container]\nNetwork=none\n+Label=t=1\n' });
    const d = dir({
      'web.container': '[Container]\nImage=nginx\nVolume=web.volume:/data\n',
      'web.volume': '[Volume]\n',
      'db.kube': '[Kube]\nYaml=/srv/db.yaml\n',
      tailnet: null,
    });
    fs.writeFileSync(join(d, 'tailnet', 'api.container'), '[Container]\nImage=api\n');
    const { containers, problems } = readDesired(d, { transformsDir: transforms });
    expect(problems).toEqual([]);
    expect(containers.map((c) => [c.name, c.kind, c.unit, c.quadlet.map((f) => f.file)])).toEqual([
      ['api', 'quadlet', 'api.service', ['api.container']],
      ['db', 'quadlet', 'db.service', ['db.kube']],
      ['web', 'quadlet', 'web.service', ['web.container', 'web.volume']],
    ]);
    expect(containers[0]!.content).toBe('[Container]\nLabel=t=1\nImage=api\nNetwork=none\n');
    expect(containers[0]!.quadlet[0]!.content).toBe(containers[0]!.content);
  });

  it('refuses what quadlet-deploy would get wrong: a sub-directory without a transform, a volume with no container, two workloads for one name, a stray file in a transform sub-directory', () => {
    const transforms = dir({ 'tailnet.container': '[Container]\nNetwork=none\n' });
    const d = dir({ 'web.container': '[Container]\nImage=x\n', 'web.service': unit, 'lonely.volume': '[Volume]\n', tailnet: null, other: null });
    fs.writeFileSync(join(d, 'tailnet', 'api.service'), unit);
    const messages = readDesired(d, { transformsDir: transforms }).problems.map((p) => p.message);
    expect(messages).toEqual([
      expect.stringMatching(/^other\/: unknown subdirectory: no transform other\.container in /),
      'tailnet/api.service: not a <name>.container file (a transform sub-directory holds .container files only)',
      'lonely.volume: no lonely.container or lonely.kube for it to belong to',
      'web.container and web.service: one container may have only one of <name>.service, <name>.container, <name>.kube',
    ]);
  });

  it('a missing directory is one problem, not a crash', () => {
    expect(readDesired('/nonexistent/unwind-desired').problems).toEqual([{ message: expect.stringMatching(/cannot read the desired directory/) }]);
  });
});

describe('validateContainer', () => {
  const c = (name: string, content = unit) => ({ name, kind: 'unit' as const, unit: `${name}.service`, content, quadlet: [], source: '' });
  it('accepts a user name and a unit with [Service]', () => expect(validateContainer(c('web-1'))).toEqual([]));
  it.each(['Web', '-rf', 'a b', '1abc'.padEnd(40, 'x'), 'ä'])('refuses the name %j', (name) => expect(validateContainer(c(name)).length).toBeGreaterThan(0));
  it('refuses a Quadlet file Quadlet would reject, with Quadlet\'s reasons', () => {
    const q = (content: string) => ({ name: 'web', kind: 'quadlet' as const, unit: 'web.service', content, quadlet: [{ file: 'web.container', content }], source: '' });
    expect(validateContainer(q('[Container]\nImage=nginx\n'))).toEqual([]);
    expect(validateContainer(q('[Container]\nExec=/bin/true\n'))).toEqual(['web.container: no Image= (or Rootfs=) in [Container]']);
  });

  it('refuses contents that are not a service unit', () => {
    expect(validateContainer(c('web', 'rm -rf /'))).toHaveLength(1);
    expect(validateContainer(c('web', '[Unit]\nDescription=x\n'))).toEqual(['web.service has no [Service] section']);
    expect(validateContainer(c('web', `${unit}\0`))).toHaveLength(1);
  });
});
