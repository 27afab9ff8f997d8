// Help texts of the `portico` command.

export const MAIN_USAGE = `Usage: portico <command> [options]

Commands:
  start      Run the gateway: control plane, admin listener and data-plane workers
  validate   Check a config file and print every error with file:line:column

Options:
  -h, --help      Show this help
  -v, --version   Print the Portico version

Run 'portico <command> --help' for the options of a command.
`

const CONFIG_OPTION = `  -c, --config <file>    Config file (default: $PORTICO_CONFIG, else ./portico.yaml)`

export const START_USAGE = `Usage: portico start [-c <file>] [--workers <N|auto>] [--no-cluster]

Validates the config, starts the admin listener, then the data plane. An invalid config is
printed and nothing starts (exit 1).

Options:
${CONFIG_OPTION}
  -w, --workers <N|auto> Data-plane worker processes; overrides 'workers:' in the config
                         (auto = one per core)
      --no-cluster       Run the data plane inside this one process (development, tests)
  -h, --help             Show this help

Signals:
  SIGHUP             Reload the config file now (it is also watched for changes)
  SIGTERM, SIGINT    Drain: stop accepting, finish in-flight requests (server.drain_timeout),
                     exit 0. A second SIGTERM/SIGINT exits at once with status 1.
`

export const VALIDATE_USAGE = `Usage: portico validate [-c <file>]

Checks the config file against the schema. Prints every error to stderr and exits 1, or prints
a summary and exits 0.

Options:
${CONFIG_OPTION}
  -h, --help             Show this help
`
