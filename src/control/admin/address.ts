// Admin listen addresses: shared with `portico validate` through config/admin-rule.ts, so both
// apply one rule.
export { formatHostPort, isLoopback, parseListen, type HostPort } from '../../config/admin-rule.js'
