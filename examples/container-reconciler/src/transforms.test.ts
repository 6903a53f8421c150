import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatSections, parseSections } from './quadlet-file.js';
import { applyTransform, readTransforms } from './transforms.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

// The tailscale transform of quadlet-deploy's README, in shape.
const transform = [
  '[Unit]',
  '+After=network-online.target',
  '',
  '[Container]',
  'Network=none',
  '+Label=managed-by=transform',
  '',
  '[Service]',
  '+ExecStartPre=/usr/local/bin/mint-key',
  'Restart=always',
  '',
].join('\n');

describe('transforms', () => {
  it('Key=Value is a default, +Key=Value goes before the container\'s own lines; sections only in the transform are added', () => {
    const spec = '[Unit]\nAfter=db.service\n\n[Container]\nImage=app\nNetwork=host\n\n[Install]\nWantedBy=default.target\n';
    const merged = formatSections(applyTransform(parseSections(spec).sections, parseSections(transform).sections));
    expect(merged).toBe([
      '[Unit]', 'After=network-online.target', 'After=db.service', '',
      // Network= is the container's own: the transform's default does not apply.
      '[Container]', 'Label=managed-by=transform', 'Image=app', 'Network=host', '',
      '[Install]', 'WantedBy=default.target', '',
      '[Service]', 'ExecStartPre=/usr/local/bin/mint-key', 'Restart=always', '',
    ].join('\n'));
  });

  it('reads NAME.container files of the transform directory; a missing directory is none; a bad file is a problem', () => {
    expect(readTransforms('/nonexistent/unwind-transforms')).toEqual({ transforms: new Map(), problems: [] });
    const d = fs.mkdtempSync(join(tmpdir(), 'unwind-transforms-'));
    dirs.push(d);
    fs.writeFileSync(join(d, 'tailscale.container'), transform);
    fs.writeFileSync(join(d, 'broken.container'), '[Container]\nnot a line\n');
    fs.writeFileSync(join(d, 'notes.txt'), '');
    const { transforms, problems } = readTransforms(d);
    expect([...transforms.keys()]).toEqual(['tailscale']);
    expect(problems.map((p) => p.message).sort()).toEqual([expect.stringMatching(/^transform broken.container: line 2/), 'transform notes.txt: not a regular NAME.container file']);
  });
});
