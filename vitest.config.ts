import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Each test file runs in its own process: chDB is one engine per process, so every
    // file gets its own temp data dir and every test its own database.
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The browser tests (test/e2e) run once the others are done: Chromium next to the
    // timing-sensitive hardening tests (request deadlines, event-loop load shedding) on a
    // 2-core machine made those flaky. https://vitest.dev/config/#sequence-grouporder
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/e2e/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['test/e2e/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          // A page loads, then its data, then a second read (a replay's product series): on a
          // loaded 2-core machine that takes seconds, beyond expect.poll's default of 1 s.
          // https://vitest.dev/config/expect
          expect: { poll: { timeout: 15_000 } },
        },
      },
    ],
  },
})
