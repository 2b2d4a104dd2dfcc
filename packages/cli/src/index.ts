export * from './unknown-options.ts'
