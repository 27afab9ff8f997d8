// The shape of /status (src/control/status.ts) as far as the console reads it.
import { call, explain } from './api'

export interface TargetStatus {
  url: string
  weight: number
  healthy: boolean | null
  ejected: boolean
  in_flight: number
  unhealthy_on: number[]
}
export interface UpstreamStatus {
  balancer: string
  breaker: string | null
  in_flight: number | null
  queued: number | null
  targets: TargetStatus[]
}
export interface RouteStatus {
  name: string
  hosts: string[] | null
  methods: string[] | null
  paths: string[]
  upstream: string
  plugins: string[]
}
export interface Reload {
  at: string
  trigger: string
  result: string
  version: number | null
  errors: Array<{ message: string; file?: string; path?: string; line?: number; column?: number; hint?: string; worker?: number }>
}
/** One served certificate over the workers (CertificateStatus in src/control/status.ts). */
export interface CertificateStatus {
  name: string
  names: string[]
  issuer: string
  subject: string
  not_before: string
  not_after: string
  key_type: string
  serial: string
  fingerprint256: string
  /** 'file:<cert_file>', 'inline' or 'acme'. */
  source: string
  workers: number[]
}
/** One ACME-managed certificate's renewal state (AcmeRenewalStatus in src/tls/acme/manager.ts). */
export interface AcmeRenewal {
  name: string
  names: string[]
  on_demand?: boolean
  ordering: boolean
  next_check: string | null
  orders: number
  failures: number
  last_error: { at: string; message: string } | null
  ari_window?: { start: string; end: string } | null
}
export interface StatusDoc {
  version: string
  mode: string
  pid: number
  uptime_s: number
  ready: boolean
  draining: boolean
  config: { file: string; version: number; hash: string; loaded_at: string }
  last_reload: Reload | null
  reloads?: Reload[]
  workers: Array<{ slot: number; pid: number | null; state: string; config_version: number | null; restarts: number; last_error: string | null; answered: boolean; in_flight: number | null }>
  routes: RouteStatus[]
  upstreams: Record<string, UpstreamStatus>
  config_center?: Record<string, unknown>
  /** Absent from gateways older than the certificates field. */
  certificates?: CertificateStatus[]
  /** Present when the config has `acme:` (the primary runs the renewals). */
  acme?: AcmeRenewal[]
}

export async function loadStatus(): Promise<StatusDoc> {
  const a = await call<StatusDoc>('/status')
  if (!a.ok) throw new Error(explain(a))
  return a.body
}
