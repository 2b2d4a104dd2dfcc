import { cac } from 'cac'
import { describe, expect, it } from 'vitest'
import { refuseUnknownOptions, UsageError, unknownOptions } from './unknown-options.ts'

/** A command with the shapes Cohort's have: a value option, a kebab-case one, a switch. */
function command() {
  const cli = cac('cohort')
  cli
    .option('--port <port>', 'Port', { default: 8080 })
    .option('--state-dir <dir>', 'State')
    .option('--https', 'TLS')
    .help()
  return cli
}

const parse = (...argv: string[]) => {
  const cli = command()
  return { cli, options: cli.parse(['node', 'cohort', ...argv], { run: false }).options }
}

describe('unknown options', () => {
  it('accepts every defined option, help and what follows --', () => {
    const { cli, options } = parse('--port', '9000', '--state-dir', 'x', '--https', '--', '--foo')
    expect(unknownOptions(cli, options)).toEqual([])
    expect(() => refuseUnknownOptions(cli, parse('--help').options)).not.toThrow()
  })

  it('refuses a misspelt option and names the one meant', () => {
    const { cli, options } = parse('--prot', '9000')
    expect(unknownOptions(cli, options)).toEqual([{ option: '--prot', suggestion: '--port' }])
    expect(() => refuseUnknownOptions(cli, options)).toThrow(
      new UsageError('unknown option --prot (did you mean --port?). See --help.'),
    )
  })

  it('names kebab-case options as they are written, and suggests nothing far off', () => {
    const { cli, options } = parse('--state-dri', 'x', '--verbose', '-x')
    expect(unknownOptions(cli, options)).toEqual([
      { option: '--state-dri', suggestion: '--state-dir' },
      { option: '--verbose', suggestion: null },
      { option: '-x', suggestion: null },
    ])
  })
})
