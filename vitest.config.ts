import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll waits for a state that an event brings; on a loaded CI machine that can take more
    // than vitest's default second, and a longer ceiling never slows a passing test.
    expect: { poll: { timeout: 15_000 } },
    // Integration tests spawn real processes; two cores are shared, so keep file parallelism low.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
})
