/**
 * `npm run check-models -- [dir]`: checks every task of a folder laid out like public/ (your own
 * models before `npm start -- --models <dir>`, or the shipped ones) the way devices will use it.
 * Exit code 0: every task can be served; 1: some task has problems; 2: no task found.
 */
import { resolve } from 'node:path'
import { cac } from 'cac'
import { tasksIn } from './manifest-catalog.ts'
import { checkTask, MAX_ABS_DIFF } from './model-check.ts'
import { REPO_ROOT } from './server.ts'

const cli = cac('check-models')
cli
  .usage(
    '[dir] [options]\n\n  Checks the tasks of a folder laid out like public/: models/<task>/manifest.json and the files it names.',
  )
  .option('--task <name>', 'Check only this task')
  .example('npm run check-models -- ~/my-models')
  .help()

const { args, options } = cli.parse()
if (!options.help) {
  const root = resolve(args[0] ?? resolve(REPO_ROOT, 'public'))
  const tasks = typeof options.task === 'string' ? [options.task] : tasksIn(root)
  if (tasks.length === 0) {
    console.error(`check-models: no models/<task>/manifest.json under ${root}`)
    process.exitCode = 2
  } else {
    let failed = 0
    for (const task of tasks) {
      const check = await checkTask(root, task)
      if (check.problems.length === 0) {
        const worst = Math.max(...check.models.map((model) => model.maxAbsDiff))
        console.log(
          `ok   ${task}: ${check.models.length} models match their sha256, load in onnxruntime-web (WASM) and match the reference outputs (max |diff| ${worst.toExponential(2)} <= ${MAX_ABS_DIFF})`,
        )
      } else {
        failed++
        console.log(`FAIL ${task}:`)
        for (const problem of check.problems)
          console.log(`  - ${problem.replaceAll('\n', '\n    ')}`)
      }
    }
    process.exitCode = failed > 0 ? 1 : 0
  }
}
