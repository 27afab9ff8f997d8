// The shape of GET /admin/fleet (the Fleet schema of the OpenAPI document) as far as the console
// reads it, and its loader: shared by the fleet page, the overview and the traffic page's note.
import { call, explain, type Answer } from './api'

/** One record of GET /admin/fleet (FleetInstance in the OpenAPI document). */
export interface FleetInstance {
  id: string
  hostname: string
  pid: number
  version: string
  build: string | null
  admin: string | null
  listen: Array<{ address: string; proto: string }>
  config: { version: number; hash: string; revision: string | null; resources: string | null }
  ready: boolean
  health_detail: string | null
  started_at: string
  updated_at: string
  behind: boolean
  updated_ago_s: number
  self: boolean
}
export interface FleetDoc {
  data: FleetInstance[]
  total: number
  behind: number
  newest_revision: string | null
  id: string
  prefix: string
  ttl_s: number
  registered: boolean
  synced: boolean
  last_error?: string | null
}

/** The fleet, or why there is none: 409 fleet_unavailable is a configuration, not a failure. */
export type Loaded = { fleet: FleetDoc } | { off: string }

export async function loadFleet(): Promise<Loaded> {
  const a: Answer<FleetDoc> = await call<FleetDoc>('/admin/fleet')
  if (a.status === 409) return { off: a.body.message ?? 'the fleet view is not available' }
  if (!a.ok) throw new Error(explain(a))
  return { fleet: a.body }
}
