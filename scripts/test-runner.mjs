#!/usr/bin/env node
// The node:test run itself, started by scripts/run-tests.mjs as `node --import tsx
// scripts/test-runner.mjs <files…>` (each file's process inherits that --import). It is `node
// --test` minus the sorting: `--test` orders its files by name, while run() keeps the order given,
// which run-tests.mjs chooses (longest files first). The spec report goes to stdout, the slowest
// files to stderr, as the two --test-reporter flags did.
import { run } from 'node:test'
import { spec } from 'node:test/reporters'
import fileTimes from './test-times-reporter.mjs'

const concurrency = Number(process.env.PORTICO_TEST_CONCURRENCY ?? 2)
const stream = run({ files: process.argv.slice(2), concurrency, timeout: 300_000 })
stream.on('test:fail', () => (process.exitCode = 1))
stream.compose(spec).pipe(process.stdout)
stream.compose(fileTimes).pipe(process.stderr)
