/**
 * The build every package shares: ESM and CommonJS with types, Node 20, no
 * source maps. A package's tsup.config.ts spreads `libraryBuild` and names
 * its own entries, so a change to how unwind ships is made here once.
 */
export const libraryBuild = {
  format: ['esm', 'cjs'],
  dts: true,
  // No sourcemaps: the output is readable unminified JavaScript, and maps that embed
  // the sources were most of each tarball (maps without them would point at files not shipped).
  sourcemap: false,
  target: 'node20',
} as const;
