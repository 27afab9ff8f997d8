// `npm run fleet`: starts the fleet of test/fleet/fleet.ts (HAProxy → three Portico instances in
// network namespaces, or on loopback addresses without root → one Redis, one etcd, origins
// registered in etcd), prints its URLs, and tears everything down on Ctrl-C or SIGTERM.
import { ADMIN_TOKEN, startFleet } from '../../test/fleet/fleet.js'

const fleet = await startFleet({ cluster: process.env.FLEET_CLUSTER !== '0' })
const n = fleet.net
const lines = [
  `fleet up (${n.mode}${n.reason !== undefined ? `: ${n.reason}` : ''})`,
  `  load balancer   ${fleet.lb.url}   (haproxy; runtime API: 'show stat' etc. on its stats socket)`,
  ...fleet.instances.map((g) => `  ${g.name}             ${g.url}   admin ${g.adminUrl} (token ${ADMIN_TOKEN})${n.mode === 'netns' ? `   netns: ${n.exec(g.index).at(-1)}` : ''}`),
  `  redis           redis://${n.redis}:6379`,
  `  etcd            http://${n.etcd}:2379   (/services/users/, /services/orders/)`,
  ...fleet.origins.map((o) => `  origin          ${o.url}   ${o.service}/${o.name}`),
  `  config          ${fleet.configFile}`,
  '',
  `try: curl -i ${fleet.lb.url}/users/1    curl -i -H 'x-tenant: t1' ${fleet.lb.url}/limited`,
  'Ctrl-C stops everything.',
]
process.stdout.write(lines.join('\n') + '\n')

let closing = false
const shutdown = async () => {
  if (closing) return
  closing = true
  process.stdout.write('stopping the fleet…\n')
  await fleet.close()
  process.exit(0)
}
process.on('SIGINT', () => void shutdown())
process.on('SIGTERM', () => void shutdown())
