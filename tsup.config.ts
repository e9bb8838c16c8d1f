import { defineConfig } from 'tsup'

// Every file a manager spawns (runtime preload, worker entry, CLIs) is its own entry so its path in
// dist/ is stable and resolvable at run time next to the module that spawns it.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    client: 'src/client/index.ts',
    simulator: 'src/simulator/index.ts',
    'runtime/process-preload': 'src/runtime/process-preload.ts',
    'runtime/worker-entry': 'src/runtime/worker-entry.ts',
    'bin/discordoo-child': 'bin/discordoo-child.ts',
    'bin/discordoo': 'bin/discordoo.ts',
  },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts', client: 'src/client/index.ts', simulator: 'src/simulator/index.ts' } },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  splitting: false,
  shims: true,
})
