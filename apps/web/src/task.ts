import { TASK_NAME } from '@cohort/protocol'

/** The task a page works on: `?task=digits`, else the benchmark task. */
export function taskFromUrl(): string {
  const task = new URLSearchParams(location.search).get('task')
  return task && TASK_NAME.test(task) ? task : DEFAULT_TASK
}

/** Fashion-MNIST: hard enough that exits and ensembles matter. */
export const DEFAULT_TASK = 'fashion'
