import type { CAC } from 'cac'
import { closest, distance } from 'fastest-levenshtein'

/**
 * The conventions Cohort's two commands (`npm start`, `npm run device`) share on top of cac:
 * cac parses options it was never told about without a word, so `--prot 9000` would quietly
 * serve on the default port. Both commands refuse such options, naming the one meant.
 */

/** A command line that cannot be run: printed as is, with no stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** How an option parsed as `key` (cac camel-cases it) was written: `stateDir` → `--state-dir`. */
const flag = (key: string) =>
  key.length === 1
    ? `-${key}`
    : `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`

/** Each option of `parsed` that `cli` does not define, with the defined one it most resembles. */
export function unknownOptions(
  cli: CAC,
  parsed: Readonly<Record<string, unknown>>,
): { readonly option: string; readonly suggestion: string | null }[] {
  const known = new Set(cli.globalCommand.options.flatMap((option) => option.names))
  const longNames = [...known].filter((name) => name.length > 1).map(flag)
  return Object.keys(parsed)
    .filter((key) => key !== '--' && !known.has(key))
    .map((key) => {
      const option = flag(key)
      const nearest = longNames.length > 0 ? closest(option, longNames) : null
      // Close enough to be a typo: at most a third of the flag's letters differ.
      const near = nearest !== null && distance(option, nearest) <= Math.max(1, option.length / 3)
      return { option, suggestion: near ? nearest : null }
    })
}

/** Throws a UsageError naming every option of `parsed` that `cli` does not define. */
export function refuseUnknownOptions(cli: CAC, parsed: Readonly<Record<string, unknown>>): void {
  const unknown = unknownOptions(cli, parsed)
  if (unknown.length === 0) return
  const lines = unknown.map(
    ({ option, suggestion }) =>
      `unknown option ${option}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`,
  )
  throw new UsageError(`${lines.join('; ')}. See --help.`)
}
