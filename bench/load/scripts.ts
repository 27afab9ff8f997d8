// The helper processes (origin, floor, peers, latency probe) are TypeScript files; they are
// transpiled once per run to plain .mjs so each runs on bare `node`. Running them through tsx would
// charge every subject but Portico (which runs from dist/) for tsx's loader thread in RSS, and
// for on-the-fly compilation during startup.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const here = dirname(fileURLToPath(import.meta.url))
export const repoRoot = join(here, '..', '..')

// Under node_modules so that the scripts' bare imports (undici, fastify, ...) resolve from the
// project's node_modules, and nothing lands in the source tree.
const outDir = join(repoRoot, 'node_modules', '.cache', 'portico-bench')

export const SCRIPTS = ['origin', 'origin-h2', 'floor', 'floor-h2', 'paced', 'peers/http-proxy', 'peers/fast-gateway', 'peers/fastify-http-proxy'] as const
export type ScriptName = (typeof SCRIPTS)[number]
/** Modules the scripts import (./x.js, ../x.js from peers/): written flat beside them as x.js. */
const LIBRARIES = ['peer-jwt'] as const
const LIBRARY_IMPORT = new RegExp(`(['"])(?:\\.\\.?/)(${LIBRARIES.join('|')})\\.js\\1`, 'g')

/** Transpile every helper script; returns the path of each .mjs. */
export function buildScripts(): Record<ScriptName, string> {
  const out = {} as Record<ScriptName, string>
  for (const name of [...SCRIPTS, ...LIBRARIES]) {
    const src = join(here, `${name}.ts`)
    const { outputText, diagnostics } = ts.transpileModule(readFileSync(src, 'utf8'), {
      fileName: src,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    })
    if (diagnostics && diagnostics.length > 0) {
      const msg = ts.flattenDiagnosticMessageText(diagnostics[0]?.messageText ?? '', '\n')
      throw new Error(`${relative(repoRoot, src)}: ${msg}`)
    }
    const library = (LIBRARIES as readonly string[]).includes(name)
    const dest = join(outDir, library ? `${name}.js` : `${name.replace('/', '-')}.mjs`)
    mkdirSync(dirname(dest), { recursive: true })
    // Every output sits in one folder, so a peer's ../peer-jwt.js is ./peer-jwt.js there.
    writeFileSync(dest, outputText.replace(LIBRARY_IMPORT, '$1./$2.js$1'))
    if (!library) out[name as ScriptName] = dest
  }
  return out
}
