import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '@unwind/core';
import { findQuadletGenerator, generatedUnit, quadletSteps } from './quadlet.js';

describe('Quadlet names', () => {
  it('maps each Quadlet file to the unit the generator makes from it', () => {
    expect(['web.container', 'app.kube', 'data.volume', 'net.network'].map(generatedUnit)).toEqual(['web.service', 'app.service', 'data-volume.service', 'net-network.service']);
    expect(() => generatedUnit('web.service')).toThrow(InvalidInputError);
  });

  it('refuses a file name that is not a plain Quadlet name before building any step', () => {
    const owner = { uid: 1001, gid: 1001, home: '/home/web' };
    const files = (...names: string[]) => ({ user: 'web', files: names.map((file) => ({ file, content: '' })) });
    expect(() => quadletSteps(files('../web.container'), owner)).toThrow(InvalidInputError);
    expect(() => quadletSteps(files('web.txt'), owner)).toThrow(InvalidInputError);
    expect(() => quadletSteps(files(), owner)).toThrow(InvalidInputError);
    // check, reload, three directories, each file, reload, each generated unit checked
    expect(quadletSteps(files('web.container'), owner)).toHaveLength(8);
    expect(quadletSteps(files('web.container', 'web.volume'), owner).map((s) => s.options.label).filter(Boolean)).toEqual([
      'Quadlet generator present', 'reload (undone last)', 'Quadlet directory', 'Quadlet file web.container', 'Quadlet file web.volume',
      'reload: the generator runs', 'web.service generated', 'web-volume.service generated',
    ]);
  });

  it('finds no generator in directories that hold none', () => {
    expect(findQuadletGenerator(['/nonexistent-generator-dir'])).toBeUndefined();
  });
});
