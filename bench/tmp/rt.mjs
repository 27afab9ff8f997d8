import { RouteTable } from '/work/main/dist/router/table.js'
import { readFileSync } from 'node:fs'
const doc = JSON.parse(readFileSync('/tmp/scale/routes.json', 'utf8'))
const specs = doc.routes.map((r) => ({ name: r.name, paths: r.paths, hosts: r.hosts, methods: r.methods, data: r }))
for (let i = 0; i < 3; i++) { const t0 = performance.now(); new RouteTable(specs); console.log('table ms', (performance.now() - t0).toFixed(0)) }
