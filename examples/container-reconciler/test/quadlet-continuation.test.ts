// Continuation lines read as podman's unit file parser reads them: inside a
// continuation, comment (`#`, `;`) and blank lines are skipped, so what
// follows them is joined to the continued value.
import { describe, expect, it } from 'vitest';
import { formatSections, parseQuadletFile, parseSections, QuadletFileError } from '../src/quadlet-file.js';
import { applyTransform } from '../src/transforms.js';

const keys = (text: string) => parseSections(text).sections.flatMap((s) => s.lines.filter((l) => 'key' in l));

describe('Quadlet continuations, as podman joins them', () => {
  it('skips comment and blank lines inside a continuation (podman reads `Exec=... Image=...`: no Image=, refused)', () => {
    const text = '[Container]\nExec=/bin/true \\\n# the image:\n\n; below\nImage=docker.io/library/nginx:1.27\n';
    expect(keys(text)).toEqual([{ key: 'Exec', value: '/bin/true  Image=docker.io/library/nginx:1.27' }]);
    expect(() => parseQuadletFile('web.container', text)).toThrow(QuadletFileError);
    expect(() => parseQuadletFile('web.container', text)).toThrow(/no Image= \(or Rootfs=\) in \[Container\]/);
  });

  it('a transform rewrite never deploys a commented-out option as part of a value', () => {
    const spec = '[Container]\nImage=app\nExec=/bin/app \\\n#--insecure\n  --verbose\nNetwork=host\n';
    const merged = formatSections(applyTransform(parseSections(spec).sections, parseSections('[Container]\nNetwork=none\n').sections));
    expect(merged).toBe('[Container]\nImage=app\nExec=/bin/app  --verbose\nNetwork=host\n');
    expect(merged).not.toContain('--insecure');
  });

  it('keeps the conventions: the backslash becomes a space, the next line is trimmed; a backslash on the last line is dropped', () => {
    expect(keys('[Service]\nExecStart=/bin/echo a \\\n  b\n')).toEqual([{ key: 'ExecStart', value: '/bin/echo a  b' }]);
    expect(keys('[Service]\nExecStart=/bin/echo a\\   \n  b\n')).toEqual([{ key: 'ExecStart', value: '/bin/echo a b' }]);
    expect(keys('[Service]\nExecStart=/bin/echo a \\\n')).toEqual([{ key: 'ExecStart', value: '/bin/echo a' }]);
  });

  it('refuses a continuation that only comments and blank lines follow to the end (podman drops the key)', () => {
    const { problems } = parseSections('[Container]\nImage=x\nExec=/bin/true \\\n# nothing more\n\n');
    expect(problems).toEqual([expect.stringMatching(/^line 3: continued with a backslash by nothing but comments and blank lines/)]);
  });
});
