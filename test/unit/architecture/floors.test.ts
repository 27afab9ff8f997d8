// The folder-floor lint rule (eslint.config.js FLOORS) fails on an upward or sideways import and
// passes a downward one: fixtures are linted as if they sat in src/, with the repo's own config.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ESLint } from 'eslint'

const eslint = new ESLint()

async function floorErrors(filePath: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath })
  return r!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message)
}

test('upward imports are errors', async () => {
  assert.equal((await floorErrors('src/core/fixture.ts', "import { createHandler } from '../proxy/handler.js'\nvoid createHandler\n")).length, 1)
  assert.equal((await floorErrors('src/plugins/x/fixture.ts', "import type { ProxyEnv } from '../../proxy/env.js'\nexport type E = ProxyEnv\n")).length, 1)
  assert.equal((await floorErrors('src/config/fixture.ts', "import { BUILTIN_PLUGINS } from '../plugins/registry.js'\nvoid BUILTIN_PLUGINS\n")).length, 1)
  assert.equal((await floorErrors('src/proxy/listeners/fixture.ts', "import { createDataPlane } from '../../dataplane/plane.js'\nvoid createDataPlane\n")).length, 1)
})

test('sideways imports between folders on one floor are errors', async () => {
  assert.equal((await floorErrors('src/plugins/fixture.ts', "import { UpstreamClient } from '../upstream/client.js'\nvoid UpstreamClient\n")).length, 1)
  assert.equal((await floorErrors('src/state/fixture.ts', "import { parseDuration } from '../config/units.js'\nvoid parseDuration\n")).length, 1)
})

test('downward imports, imports inside a folder, and core naming observability types pass', async () => {
  assert.deepEqual(await floorErrors('src/proxy/fixture.ts', "import { ERRORS } from '../core/errors.js'\nimport { normalizePath } from '../router/normalize.js'\nvoid ERRORS\nvoid normalizePath\n"), [])
  assert.deepEqual(await floorErrors('src/upstream/discovery/fixture.ts', "import type { Target } from '../target.js'\nexport type T = Target\n"), [])
  assert.deepEqual(await floorErrors('src/core/fixture.ts', "import type { RequestTrace } from '../observability/tracing.js'\nexport type T = RequestTrace\n"), [])
  assert.equal((await floorErrors('src/core/fixture.ts', "import { Tracing } from '../observability/tracing.js'\nvoid Tracing\n")).length, 1, 'a value import is not a type')
})
