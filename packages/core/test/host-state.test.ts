// The test runner's picture of the host (scripts/host-state.mjs): which new cgroups make a run red.
import { describe, expect, it } from 'vitest';
// @ts-expect-error a script of the repository, plain JavaScript without types
import { hostDifferences } from '../../../scripts/host-state.mjs';

const picture = (cgroups: string[]) => ({ files: {}, mounts: [], cgroups });
const differences = (after: string[], own: string[]) => hostDifferences(picture(['cgroup2 /kept']), picture(['cgroup2 /kept', ...after]), own) as string[];

describe('hostDifferences: new cgroups', () => {
  it("counts one left in this run's machine, and one in no machine's or user manager's cgroup (a manager that took the host's root)", () => {
    expect(differences(['cgroup2 /unwind-machine-aa11', 'cgroup2 /unwind-machine-aa11/init.scope', 'cgroup /init.scope'], ['/sys/fs/cgroup/unified/unwind-machine-aa11'])).toEqual([
      'new cgroup: cgroup2 /unwind-machine-aa11',
      'new cgroup: cgroup2 /unwind-machine-aa11/init.scope',
      'new cgroup: cgroup /init.scope',
    ]);
  });

  it("leaves out another run's machine and user managers, which remove their own (a run beside this one)", () => {
    expect(differences(['cgroup2 /unwind-machine-bb22', 'cgroup2 /unwind-machine-bb22/system.slice', 'cgroup2 /unwind-user-manager-cc33/init.scope'], ['/sys/fs/cgroup/unified/unwind-machine-aa11'])).toEqual([]);
  });

  it('a cgroup that was there before, or is gone, is no difference', () => {
    expect(hostDifferences(picture(['cgroup2 /kept', 'cgroup2 /gone']), picture(['cgroup2 /kept']), [])).toEqual([]);
  });
});
