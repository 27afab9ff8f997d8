// Config schema of the `ip-restriction` plugin. The pattern catches typos early (with the YAML
// line); create() parses every entry with net.BlockList semantics and refuses what it cannot use.
import { Type, type Static } from '@sinclair/typebox'

/** IPv4 or IPv6 address, optionally /bits. Loose on purpose; isAddressOrCidr() decides. */
export const CIDR_PATTERN = '^[0-9A-Fa-f:.]+(?:/\\d{1,3})?$'

const List = (description: string) => Type.Array(Type.String({ pattern: CIDR_PATTERN }), { default: [], description })

export const IpRestrictionSchema = Type.Object(
  {
    allow: List('Addresses or CIDRs (IPv4 or IPv6) that may pass. Empty: everyone not denied may pass.'),
    deny: List('Addresses or CIDRs refused even when they are in allow. Checked first.'),
    message: Type.String({ default: 'access denied', maxLength: 200, description: 'Message of the 403 reply.' }),
  },
  { additionalProperties: false, description: 'Allow and deny lists on the client address (after server.trusted_proxies).' },
)

export type IpRestrictionConfig = Static<typeof IpRestrictionSchema>
