// Help texts of the `portico` command.

export const MAIN_USAGE = `Usage: portico <command> [options]

Commands:
  start      Run the gateway: control plane, admin listener and data-plane workers
  validate   Check a config file and print every error with file:line:column
  revoke     Revoke a token (by jti) or a subject's tokens through the admin API
  upgrade    Upgrade a running 'start --handoff' instance in place (SIGUSR2), no dropped connection
  config     dump | diff | apply: declarative sync with a running gateway's admin API
  explain    Show what a request would hit: route, upstream path, plugins in order, targets
  migrate    file-to-etcd: seed a config center's etcd from a config file

Options:
  -h, --help      Show this help
  -v, --version   Print the Portico version

Run 'portico <command> --help' for the options of a command.
`

const CONFIG_OPTION = `  -c, --config <file>    Config file (default: $PORTICO_CONFIG, else ./portico.yaml)`

export const START_USAGE = `Usage: portico start [-c <file>] [--workers <N|auto>] [--no-cluster] [--handoff]

Validates the config, starts the admin listener, then the data plane. An invalid config is
printed and nothing starts (exit 1).

Options:
${CONFIG_OPTION}
  -w, --workers <N|auto> Data-plane worker processes; overrides 'workers:' in the config
                         (auto = one per core)
      --no-cluster       Run the data plane inside this one process (development, tests)
      --handoff          The primary owns the listening sockets, so SIGUSR2 (portico upgrade)
                         can hand them to a new version without closing them. Workers then
                         accept on the shared socket (kernel balancing) instead of round robin
  -h, --help             Show this help

Environment:
  PORTICO_PLUGINS        User plugins to load beside the built-ins: files, package directories
                         or installed package names, separated by ':' (docs/plugins/writing.md)

Signals:
  SIGHUP             Reload the config file now (it is also watched for changes)
  SIGTERM, SIGINT    Drain: stop accepting, finish in-flight requests (server.drain_timeout),
                     exit 0. A second SIGTERM/SIGINT exits at once with status 1.
  SIGUSR2            With --handoff: start the installed version beside this one on the same
                     sockets; once it is ready this one drains and exits (in-place upgrade)
`

export const UPGRADE_USAGE = `Usage: portico upgrade --pid <primary pid> [--timeout <duration>]

Sends SIGUSR2 to a primary started with 'portico start --handoff' and waits until it has
handed its sockets to the new primary (the same command line, so the version installed now),
drained and exited. Exit 0 once the old primary is gone; 1 if it is still running after the
timeout (default 180s: the new primary failed to become ready; the old one keeps serving, and
its log says why).

Options:
      --pid <pid>          The running primary's process id
      --timeout <duration> How long to wait (default 180s)
  -h, --help               Show this help
`

export const VALIDATE_USAGE = `Usage: portico validate [-c <file>]

Checks the config file against the schema. Prints every error to stderr and exits 1, or prints
a summary and exits 0.

Options:
${CONFIG_OPTION}
  -h, --help             Show this help

Environment:
  PORTICO_PLUGINS        User plugins to load beside the built-ins: files, package directories
                         or installed package names, separated by ':' (docs/plugins/writing.md)
`

export const REVOKE_USAGE = `Usage: portico revoke --jti <id> [--exp <time>] [-c <file>]
       portico revoke --sub <subject> [--before <time>] [--ttl <duration>] [-c <file>]

Asks the running gateway (POST /admin/revocations on admin.listen, with admin.token) to revoke
one token by its "jti", or every token of a subject issued before a time. Revocations are
stored in the shared Redis (store.redis) and reach every worker and instance within a second.
Routes enforce them with the jwt-revocation plugin.

Options:
${CONFIG_OPTION}
      --jti <id>         The token's "jti" claim
      --exp <time>       The token's "exp" (unix seconds or ISO 8601); the revocation is kept
                         until then (default: 24h from now)
      --sub <subject>    The "sub" claim whose tokens are revoked
      --before <time>    Revoke tokens issued ("iat") before this time (default: now)
      --ttl <duration>   How long the subject revocation is kept; at least the longest token
                         lifetime (default: 24h)
      --admin <url>      Admin API base URL instead of the config's admin.listen
  -h, --help             Show this help
`

export const CONFIG_USAGE = `Usage: portico config dump  [--admin URL] [--token T] [-o file] [--json]
       portico config diff  -c <file> [--admin URL] [--token T] [--prune]
       portico config apply -c <file> [--admin URL] [--token T] [--prune] [--dry-run]

dump   prints the gateway's document (YAML; secrets as [REDACTED]). Applying a dump changes nothing.
diff   lists the resources apply would create (+), update (~) or delete (-); exit 3 when they differ.
apply  makes the gateway's routes, upstreams, consumers and global plugins match the file, in one
       validated, atomic write (If-Match: a concurrent change makes it fail instead of being lost).
       Without --prune, resources that exist only on the gateway are kept; with it, they are deleted.

Options:
  -c, --config <file>  The document to sync (sent as written: \${ENV} resolves on the gateway)
      --admin <url>    Admin API base URL (default: $PORTICO_ADMIN_URL, else http://127.0.0.1:9180)
      --token <t>      Admin token (default: $PORTICO_ADMIN_TOKEN); editor role or above to apply
      --prune          Delete resources that are not in the file
      --dry-run        apply: show the changes and validate, apply nothing
  -o, --output <file>  dump: write to a file (mode 0600) instead of stdout
      --json           dump: JSON instead of YAML
`

export const MIGRATE_USAGE = `Usage: portico migrate file-to-etcd -c <file> --to <bootstrap file> [--dry-run] [--force]

Validates <file> (errors with file:line:column; nothing is written), then writes its routes,
upstreams, consumers and global plugins, as written (\${ENV} references stay references), to the
etcd that <bootstrap file>'s config_center.etcd names: its endpoints, prefix, auth and secret key
(secret fields are sealed when it has config_center.etcd.secrets). Global plugins and upstreams go
first and routes last, in transactions of at most 100 resources (etcd's --max-txn-ops is 128 by
default), so instances already watching the prefix only ever see valid documents. Settings
(server, admin, log, ...) stay in the bootstrap file. Later changes: the admin API or config apply.

Options:
  -c, --config <file>  The config file to migrate
      --to <file>      The bootstrap file the instances start with (with config_center.etcd)
      --dry-run        Validate and count, write nothing
      --force          Write even if the prefix already holds resources (keys the file names are
                       overwritten, others are kept; nothing is deleted)
`

export const EXPLAIN_USAGE = `Usage: portico explain [-c <file>] [-H 'Name: value']... [--sni <name>] [--json] <METHOD> <URL>

Shows what the gateway would do with one request under the config, without starting anything:
the route it matches (or the 400/404/405 it would answer), the path sent upstream, the plugins of
each phase in the order they run, and the upstream(s) with their targets. The URL is absolute
(http://api.example.com/users/7) or a path with -H 'Host: …'.

Options:
${CONFIG_OPTION}
  -H, --header <h>       A request header, 'Name: value' (repeatable)
      --sni <name>       The TLS server name, for routes with snis
      --json             Print the explanation as JSON
`
