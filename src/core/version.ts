// The package version, read once from package.json at runtime: a JSON import would pull the file
// into the build's rootDir (src/). package.json sits two levels up from both src/core/ and dist/core/.
import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

export const PORTICO_VERSION: string = pkg.version
