#!/usr/bin/env node
// Entry for `npx portico` / `npm start`: runs the compiled CLI from dist/ (built by `npm install`
// through the `prepare` script).
import('../dist/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/main.js')) {
    process.stderr.write('portico: dist/ is missing; run `npm run build` (npm install does it for you)\n')
    process.exit(1)
  }
  throw err
})
