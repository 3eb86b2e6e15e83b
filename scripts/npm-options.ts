/**
 * `npm run token --role ops` (no `--`): npm keeps an option of its command line for itself
 * (as `npm_config_<name>` in the environment) and passes nothing on, so the script would run
 * as if not asked, or say the option is missing. The message for the first of `options`
 * (long names without dashes) that npm took, if any.
 */
export function npmTookOption(
  options: readonly string[],
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  for (const option of options) {
    const value = env[`npm_config_${option.replace(/-/g, '_')}`]
    if (value === undefined) continue
    const shown = value === '' || value === 'true' ? '' : ` ${value}`
    return `npm took --${option} for itself; pass it after --, as in: ${command} -- --${option}${shown}`
  }
  return undefined
}
