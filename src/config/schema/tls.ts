// TLS sections of the config document: what an https listener serves (certificates, SNI, versions,
// tickets, OCSP, client certificates, HSTS), how a cleartext listener redirects, and how Portico
// talks TLS to upstreams, and ACME. listener.ts puts ListenerTls and RedirectHttps on a listener.
import { Type, type Static } from '@sinclair/typebox'
import { DURATION_PATTERN } from '../units.js'

const Strict = { additionalProperties: false } as const

const Dur = (description: string, def: string) =>
  Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Integer({ minimum: 0 })], {
    description: `${description} A duration: "250ms", "2s", "5m", "1h" or integer milliseconds.`,
    default: def,
  })

const TlsVersion = (description: string, def: string) =>
  Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { description, default: def })

/** Host names as certificates carry them: exact or one-label wildcard. */
const CertName = Type.String({ pattern: '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$' })

export const TlsCertificate = Type.Object(
  {
    name: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9_.*-]+$', description: 'Name in /status and the expiry metric. Omitted = the first DNS name of the certificate.' }),
    ),
    cert_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificate chain (leaf first). Watched: a change is served from the next handshake on.' })),
    key_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of cert_file (RSA or ECDSA, unencrypted). Watched with cert_file.' })),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'Inline PEM chain, usually "${ENV}" or "${file:path}" (read once at load; not watched).' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'Inline PEM private key, usually "${ENV}" or "${file:path}". Never logged or shown in /status.' })),
  },
  { ...Strict, description: 'One certificate: either cert_file + key_file, or cert + key. SNI names come from the certificate (subjectAltName).' },
)

export const ClientAuth = Type.Object(
  {
    mode: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('optional'), Type.Literal('required')], {
        default: 'required',
        description: 'required: a handshake without a client certificate the CA verifies is refused. optional: a certificate is asked for and verified when sent; the request goes on either way (plugins such as mtls-auth decide).',
      }),
    ),
    ca_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM bundle of the CAs that sign client certificates.' })),
    ca: Type.Optional(Type.String({ minLength: 1, description: 'Inline PEM CA bundle ("${ENV}" or "${file:path}").' })),
  },
  { ...Strict, description: 'Client certificates (mTLS). The verified identity is forwarded upstream in x-client-cert-* headers; any client-sent copies are removed.' },
)

export const Hsts = Type.Object(
  {
    max_age: Type.Optional(Dur('max-age of Strict-Transport-Security.', '8760h')),
    include_subdomains: Type.Optional(Type.Boolean({ default: false, description: 'Add includeSubDomains.' })),
    preload: Type.Optional(Type.Boolean({ default: false, description: 'Add preload (only once you mean to submit the domain to the preload list).' })),
  },
  { ...Strict, description: 'Strict-Transport-Security on every response of this listener.' },
)

export const SessionTickets = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'Offer TLS session tickets (resumed handshakes skip the certificate and key exchange work).' })),
    rotate: Type.Optional(Dur('Ticket key lifetime: keys roll over at every multiple of this (UTC), the previous key is still accepted for one more period.', '12h')),
    secret: Type.Optional(
      Type.String({
        minLength: 32,
        description: 'Seed the ticket keys are derived from (HKDF-SHA256 over the period number), so every worker and every instance given the same seed shares keys. Use ${ENV}. Omitted = a random seed made by the primary at start (shared by its workers only).',
      }),
    ),
  },
  { ...Strict, description: 'TLS session tickets.' },
)

export const ListenerTls = Type.Object(
  {
    acme: Type.Optional(Type.Boolean({ default: false, description: 'Also serve every certificate the top-level acme block manages (issued and renewed by the primary).' })),
    certificates: Type.Optional(Type.Array(TlsCertificate, { default: [], description: 'Certificates served, chosen by SNI: exact names first, then *.wildcards; RSA and ECDSA certificates for the same names are served side by side (the client\'s signature algorithms pick).' })),
    default_certificate: Type.Optional(
      Type.String({ minLength: 1, description: 'Certificate (by name) for handshakes without SNI or with an unknown name. Omitted = the first certificate.' }),
    ),
    strict_sni: Type.Optional(Type.Boolean({ default: false, description: 'Refuse handshakes without SNI or for names no certificate covers, instead of serving the default certificate.' })),
    min_version: Type.Optional(TlsVersion('Lowest TLS version accepted.', 'TLSv1.2')),
    max_version: Type.Optional(TlsVersion('Highest TLS version accepted.', 'TLSv1.3')),
    ciphers: Type.Optional(Type.String({ minLength: 1, description: 'OpenSSL cipher list (TLS 1.2) and TLS 1.3 suites, colon-separated. Omitted = Node\'s defaults.' })),
    curves: Type.Optional(Type.String({ minLength: 1, description: 'Key-exchange groups, colon-separated, e.g. "X25519:P-256". Omitted = Node\'s defaults.' })),
    session_tickets: Type.Optional(SessionTickets),
    ocsp_stapling: Type.Optional(
      Type.Boolean({ default: true, description: 'Staple an OCSP response for certificates that name a responder (fetched in the background, refreshed at half its validity).' }),
    ),
    client_auth: Type.Optional(ClientAuth),
    sni: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.Object({ client_auth: Type.Optional(ClientAuth) }, Strict), {
        description: 'Per-SNI overrides (exact names), e.g. client certificates required for one name only.',
      }),
    ),
    hsts: Type.Optional(Hsts),
    check_host: Type.Optional(
      Type.Boolean({ default: true, description: 'Answer 421 misdirected_request when a request\'s Host is not covered by the certificate its connection was served with (SNI and Host bound together).' }),
    ),
  },
  { ...Strict, description: 'Makes this listener HTTPS.' },
)

export const RedirectHttps = Type.Object(
  {
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 443, description: 'Port of the https URL (443 is left out of the URL).' })),
    status: Type.Optional(Type.Union([Type.Literal(301), Type.Literal(302), Type.Literal(307), Type.Literal(308)], { default: 308, description: 'Redirect status.' })),
  },
  { ...Strict, description: 'Answer every request of this cleartext listener with a redirect to https (ACME HTTP-01 challenges excepted).' },
)

export const UpstreamTls = Type.Object(
  {
    verify: Type.Optional(Type.Boolean({ default: true, description: 'Verify the target\'s certificate chain and name. Turn off only for tests.' })),
    ca_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle trusted for the targets (replaces the system/Node roots).' })),
    ca: Type.Optional(Type.String({ minLength: 1, description: 'Inline PEM CA bundle.' })),
    server_name: Type.Optional(Type.String({ minLength: 1, description: 'SNI and the name verified. Omitted = the target URL\'s host (no SNI for IP addresses).' })),
    pinned_names: Type.Optional(
      Type.Array(CertName, { minItems: 1, description: 'The certificate must carry one of these DNS names (checked in addition to chain verification).' }),
    ),
    cert_file: Type.Optional(Type.String({ minLength: 1, description: 'Client certificate for upstream mTLS (PEM).' })),
    key_file: Type.Optional(Type.String({ minLength: 1, description: 'Private key of cert_file (PEM).' })),
  },
  { ...Strict, description: 'TLS towards https:// targets (proxying and active health checks alike).' },
)

export const OnDemand = Type.Object(
  {
    ask: Type.String({
      pattern: '^https?://',
      description: 'URL asked before any on-demand order: GET <ask>?domain=<name>; only a 200 answer approves the name. Nothing is ordered without it.',
    }),
    ask_timeout: Type.Optional(Dur('Time the ask URL has to answer; no answer = not approved.', '5s')),
    wait: Type.Optional(Dur('How long the first handshake for a new name waits for its certificate before it is refused (or served the default certificate).', '30s')),
    per_name_interval: Type.Optional(Dur('After a name was refused (ask said no, a limit, a failed order), it is not asked or ordered again for this long.', '10m')),
    max_orders: Type.Optional(Type.Integer({ minimum: 1, default: 10, description: 'Global limit: at most this many on-demand orders per `per` window (a burst of new names cannot spend the CA\'s rate limits).' })),
    per: Type.Optional(Dur('The window of max_orders.', '1h')),
  },
  {
    ...Strict,
    description:
      'On-demand TLS: an https listener with acme: true that gets a handshake for a name no certificate covers asks the primary for one; the primary checks the rate limits and the ask URL, orders it, and the waiting handshake is served with it. Issued names are renewed like configured ones.',
  },
)

export const Dns = Type.Object(
  {
    webhook: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^https?://', description: 'POSTed {"action":"present"|"cleanup","domain","name","value"} (name: the TXT record FQDN with its trailing dot); any 2xx = done.' }),
          headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String(), { description: 'Sent with every call, e.g. authorization: "Bearer ${env:DNS_HOOK_TOKEN}".' })),
          timeout: Type.Optional(Dur('Deadline of one call.', '30s')),
        },
        Strict,
      ),
    ),
    exec: Type.Optional(
      Type.Object(
        {
          command: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Program and its first arguments; run as <command...> present|cleanup <record FQDN.> <value> (no shell). Exit 0 = done.' }),
          timeout: Type.Optional(Dur('Deadline of one run (then it is killed).', '30s')),
        },
        Strict,
      ),
    ),
    propagation_delay: Type.Optional(
      Dur('Wait this long after the record is put before asking the CA to validate (for DNS providers whose secondaries lag).', '0s'),
    ),
  },
  { ...Strict, description: 'How DNS-01 records are put and removed: one of webhook or exec.' },
)

export const Acme = Type.Object(
  {
    directory: Type.Optional(
      Type.String({
        default: 'production',
        description: 'ACME directory: "production" (Let\'s Encrypt), "staging" (Let\'s Encrypt staging) or the directory URL of another CA.',
      }),
    ),
    email: Type.Optional(Type.String({ minLength: 3, description: 'Account contact (expiry notices from the CA).' })),
    terms_of_service_agreed: Type.Boolean({ description: 'You agree to the CA\'s terms of service (required by every public CA).' }),
    eab: Type.Optional(
      Type.Object(
        {
          kid: Type.String({ minLength: 1, description: 'External Account Binding key id, from the CA.' }),
          hmac_key: Type.String({ minLength: 1, description: 'EAB HMAC key (base64url), from the CA. Use ${ENV}.' }),
        },
        { ...Strict, description: 'External Account Binding (RFC 8555 §7.3.4), for CAs that require it (ZeroSSL, Google, private CAs).' },
      ),
    ),
    ca_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle trusted for the directory\'s HTTPS (a private CA). Omitted = Node\'s roots.' })),
    storage_dir: Type.Optional(
      Type.String({ minLength: 1, default: './portico-acme', description: 'Where the account key, certificates and keys, and pending challenges are kept (single instance). Workers read certificates and tokens from here. In fleet mode (storage.backend: redis) this instance\'s copy of the fleet\'s certificates, which its workers serve (so they keep serving while Redis is down).' }),
    ),
    storage: Type.Optional(
      Type.Object(
        {
          backend: Type.Optional(
            Type.Union([Type.Literal('directory'), Type.Literal('redis')], {
              default: 'directory',
              description:
                'directory: everything in storage_dir (one instance). redis: fleet mode, the account, certificates and keys in store.redis (encrypted with encryption_key), each order under a lock there, so many instances issue each certificate once; every instance mirrors them into its storage_dir, which its workers serve.',
            }),
          ),
          encryption_key: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'AES-256-GCM key for what the redis backend stores: 32 bytes as 64 hex digits or base64 (openssl rand -base64 32). Use ${env:NAME} or ${file:/path}; never logged. Required with backend: redis.',
            }),
          ),
          previous_encryption_keys: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              description: 'Keys that still open older values after a rotation (new values are sealed with encryption_key only). Remove one once every value was renewed under the new key.',
            }),
          ),
          lock_ttl: Type.Optional(
            Dur('Lifetime of an issuance lock in the store; the holder renews it every third of this, so a crashed holder blocks the others for at most this long.', '30s'),
          ),
        },
        { ...Strict, description: 'Where ACME state lives: the local directory, or the shared Store for a fleet.' },
      ),
    ),
    challenge: Type.Optional(
      Type.Union([Type.Literal('http-01'), Type.Literal('tls-alpn-01'), Type.Literal('dns-01')], {
        default: 'http-01',
        description:
          'How the CA checks control of a name. http-01: a token on port 80, answered by every cleartext listener before routing. tls-alpn-01 (RFC 8737): a handshake on port 443 with ALPN "acme-tls/1", answered by every https listener with acme: true, no cleartext listener needed. dns-01: a TXT record at _acme-challenge.<name>, put there by the dns hook; the only one that gives wildcard certificates.',
      }),
    ),
    dns: Type.Optional(Dns),
    key_type: Type.Optional(Type.Union([Type.Literal('ecdsa'), Type.Literal('rsa')], { default: 'ecdsa', description: 'Key of issued certificates: ECDSA P-256 or RSA 2048.' })),
    renew_before: Type.Optional(
      Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Integer({ minimum: 0 })], {
        description: 'Renew when less than this is left. Omitted = at two thirds of the certificate\'s lifetime (30 days before expiry for a 90-day certificate).',
      }),
    ),
    certificates: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+$', description: 'Name in /status and the expiry metric. Omitted = the first name.' })),
            names: Type.Array(CertName, { minItems: 1, maxItems: 100, description: 'DNS names of the certificate (the first is the subject).' }),
          },
          Strict,
        ),
        { default: [], description: 'Certificates to obtain and keep renewed; each is ordered once (never twice for the same names while one order runs). Needed unless on_demand is set.' },
      ),
    ),
    on_demand: Type.Optional(OnDemand),
  },
  { ...Strict, description: 'Automatic certificates (ACME, RFC 8555) with the HTTP-01 or TLS-ALPN-01 challenge, answered by every worker. Issuance and renewal run in the primary.' },
)

export type AcmeConfig = Static<typeof Acme>
export type OnDemandConfig = Static<typeof OnDemand>
export type DnsConfig = Static<typeof Dns>
export type TlsCertificateConfig = Static<typeof TlsCertificate>
export type ClientAuthConfig = Static<typeof ClientAuth>
export type ListenerTlsConfig = Static<typeof ListenerTls>
export type UpstreamTlsConfig = Static<typeof UpstreamTls>
export type RedirectHttpsConfig = Static<typeof RedirectHttps>
