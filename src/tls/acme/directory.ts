// ACME directory names the config accepts besides a URL.
const DIRECTORIES: Record<string, string> = {
  production: 'https://acme-v02.api.letsencrypt.org/directory',
  staging: 'https://acme-staging-v02.api.letsencrypt.org/directory',
}

export function directoryUrl(d: string | undefined): string {
  const v = d ?? 'production'
  return DIRECTORIES[v] ?? v
}
