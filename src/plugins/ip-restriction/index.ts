// `ip-restriction`: allow and deny lists on ctx.clientIp, which the handler already resolved through
// server.trusted_proxies (an X-Forwarded-For from an untrusted peer is ignored there, so it cannot
// be used to pass this check). Lists are net.BlockLists built once; a request does two lookups.
import { BlockList, isIP } from 'node:net'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply } from '../../core/verdict.js'
import { IpRestrictionSchema } from './schema.js'

/** Builds a BlockList; throws naming the entry that is not an address or CIDR. */
export function compileList(entries: readonly string[], what: string): BlockList | null {
  if (entries.length === 0) return null
  const list = new BlockList()
  for (const e of entries) {
    const slash = e.indexOf('/')
    const addr = slash === -1 ? e : e.slice(0, slash)
    const family = isIP(addr)
    if (family === 0) throw new Error(`ip-restriction: ${what} entry "${e}" is not an IPv4/IPv6 address or CIDR`)
    const type = family === 6 ? 'ipv6' : 'ipv4'
    if (slash === -1) {
      list.addAddress(addr, type)
      continue
    }
    const bits = Number(e.slice(slash + 1))
    if (!Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) throw new Error(`ip-restriction: ${what} entry "${e}" has an invalid prefix length`)
    list.addSubnet(addr, bits, type)
  }
  return list
}

/** true when `ip` (plain, as in ctx.clientIp) is in `list`. IPv4-mapped IPv6 is checked as IPv4 too. */
export function inList(list: BlockList, ip: string): boolean {
  const family = isIP(ip)
  if (family === 4) return list.check(ip, 'ipv4')
  if (family === 6) {
    if (list.check(ip, 'ipv6')) return true
    const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
    return m !== null && list.check(m[1]!, 'ipv4')
  }
  return false
}

export default definePlugin({
  name: 'ip-restriction',
  phases: ['access'],
  priority: 3000,
  schema: IpRestrictionSchema,
  status: 'beta',
  create(config, env) {
    const allow = compileList(config.allow, 'allow')
    const deny = compileList(config.deny, 'deny')
    const denied: LocalReply = Object.freeze({ status: 403, error: 'forbidden', message: config.message })
    const instance: PluginInstance = {
      access(ctx) {
        const ip = ctx.clientIp
        // An address we cannot parse is never "allowed": fail closed.
        if ((deny !== null && inList(deny, ip)) || (allow !== null && !inList(allow, ip)) || isIP(ip) === 0) {
          env.logger.debug({ request_id: ctx.id, client_ip: ip }, 'ip-restriction refused the request')
          return denied
        }
        return undefined
      },
    }
    return Object.freeze(instance)
  },
})
