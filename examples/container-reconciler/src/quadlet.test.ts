import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '@unwind/core';
import { findQuadletGenerator, generatedUnit, quadletSteps } from './quadlet.js';

describe('Quadlet names', () => {
  it('maps each Quadlet file to the unit the generator makes from it', () => {
    expect(['web.container', 'app.kube', 'data.volume', 'net.network'].map(generatedUnit)).toEqual(['web.service', 'app.service', 'data-volume.service', 'net-network.service']);
    expect(() => generatedUnit('web.service')).toThrow(InvalidInputError);
  });

  it('refuses a file name that is not a plain Quadlet name before building any step', () => {
    const base = { user: 'web', uid: 1001, gid: 1001, home: '/home/web', content: '' };
    expect(() => quadletSteps({ ...base, name: '../web.container' })).toThrow(InvalidInputError);
    expect(() => quadletSteps({ ...base, name: 'web.txt' })).toThrow(InvalidInputError);
    expect(quadletSteps({ ...base, name: 'web.container' })).toHaveLength(8);
  });

  it('finds no generator in directories that hold none', () => {
    expect(findQuadletGenerator(['/nonexistent-generator-dir'])).toBeUndefined();
  });
});
