import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn real processes; two cores are shared, so keep file parallelism low.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
})
