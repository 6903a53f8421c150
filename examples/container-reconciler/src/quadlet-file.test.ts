import { describe, expect, it } from 'vitest';
import { QuadletFileError, formatSections, parseQuadletFile, parseSections, quadletExtension } from './quadlet-file.js';

const container = '[Unit]\nDescription=web\n\n[Container]\nImage=docker.io/library/nginx:1.27\n# a comment\nPublishPort=8080:80\n\n[Install]\nWantedBy=default.target\n';

describe('Quadlet files, read as Quadlet reads them', () => {
  it('knows the four types it deploys', () => {
    expect(['a.container', 'a.kube', 'a.volume', 'a.network', 'a.service', 'a.pod'].map(quadletExtension)).toEqual(['.container', '.kube', '.volume', '.network', undefined, undefined]);
  });

  it('parses sections, keys, comments and continuations, and writes them back', () => {
    const sections = parseQuadletFile('web.container', container);
    expect(sections.map((s) => s.name)).toEqual(['', 'Unit', 'Container', 'Install']);
    expect(formatSections(sections)).toBe(container);
    expect(parseSections('[Service]\nExecStart=/bin/echo a \\\n  b\n').sections[1]!.lines).toEqual([{ key: 'ExecStart', value: '/bin/echo a  b' }]);
  });

  it.each([
    ['web.container', '[Container]\nExec=/bin/true\n', 'no Image= (or Rootfs=) in [Container]'],
    ['web.container', '[Unit]\nDescription=x\n', 'no [Container] section'],
    ['app.kube', '[Kube]\nNetwork=a\n', 'no Yaml= in [Kube]'],
    ['data.volume', '[Container]\nImage=x\n', '[Container] is not a section of a .volume file'],
    ['web.container', 'Image=x\n[Container]\nImage=x\n', 'a key before the first [Section]'],
    ['web.container', '[Container]\nImage=x\nthis is not a line\n', 'line 3: not a [Section], a comment or Key=Value'],
    ['web.container', '[Container]\nImage=x\0\n', 'holds a NUL byte'],
    ['web.service', '[Service]\nExecStart=/bin/true\n', 'not a Quadlet file'],
  ])('refuses %s %j: %s', (file, text, problem) => {
    let caught: unknown;
    try {
      parseQuadletFile(file, text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(QuadletFileError);
    expect((caught as QuadletFileError).code).toBe('QUADLET_FILE_INVALID');
    expect((caught as QuadletFileError).message).toContain(problem);
    expect((caught as QuadletFileError).context).toMatchObject({ file });
  });

  it('accepts the other sections Quadlet passes on, X- sections, Rootfs= instead of Image=', () => {
    expect(() => parseQuadletFile('web.container', '[Service]\nRestart=always\n[X-Mine]\nA=b\n[Container]\nRootfs=/srv/root\n')).not.toThrow();
    expect(() => parseQuadletFile('data.volume', '[Volume]\n')).not.toThrow();
    expect(() => parseQuadletFile('net.network', '[Network]\nSubnet=10.89.0.0/24\n')).not.toThrow();
  });
});
