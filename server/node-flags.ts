/**
 * Node flags the server runs with: `npm run serve` and `npm start` (package.json) and the
 * child-process harness of the tests and benchmarks. package.json cannot import this
 * file; `test/server/node-flags.test.ts` holds its scripts to the same list.
 *
 * `--max-semi-space-size=64` (MiB; Node 20's default is 16): at full ingest rate the
 * server allocates ~150 MB/s (parsed events, their rows) that lives until its group
 * commit is answered, ~50–150 ms. With 16 MiB semi-spaces that garbage survived two
 * scavenges and was promoted, and the old generation's collector then freed it: the
 * garbage collector took 19 % of the main thread's busy time. With 64 MiB it dies young:
 * 7 %, and the pauses are fewer and shorter (BENCHMARKS.md, "Session 7"; bench:ingest's
 * figures are set by the engine and did not move beyond their run-to-run spread).
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=64'] as const

/**
 * The flags of SERVER_NODE_FLAGS (by name: another value is the operator's choice) that
 * neither the command line nor NODE_OPTIONS gave this process.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map((arg) => arg.split('=')[0])
  return SERVER_NODE_FLAGS.filter((flag) => !given.includes(flag.split('=')[0]))
}
