// Process entry. node:cluster re-runs this file in every data-plane worker, so the worker branch
// comes first; dynamic imports keep the CLI and config loader out of workers, and the data plane
// out of one-shot commands like `validate`.
import cluster from 'node:cluster'

if (cluster.isWorker) {
  const { runWorker } = await import('./control/worker.js')
  runWorker()
} else {
  const { runCli } = await import('./cli/index.js')
  const code = await runCli(process.argv.slice(2))
  if (code !== null) process.exitCode = code
}
