#!/usr/bin/env node
// Every package's prepack: refuse `npm pack` / `npm publish`. npm copies the
// `workspace:^` specifiers between unwind's packages into the tarball, where no
// registry can resolve them; `pnpm pack` / `pnpm publish` turn them into
// version ranges.
const agent = process.env.npm_config_user_agent ?? '';
if (!agent.startsWith('pnpm/')) {
  console.error(`pack and publish unwind's packages with pnpm (npx --yes pnpm@10.34.8 pack|publish): ${agent.split(' ')[0] || 'this tool'} would ship workspace: specifiers`);
  process.exit(1);
}
