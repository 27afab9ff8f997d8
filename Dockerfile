# syntax=docker/dockerfile:1
# Portico's container image: build stage compiles TypeScript with the dev dependencies, the
# runtime stage carries only dist/, bin/ and the production node_modules, runs as the unprivileged
# `node` user under tini (PID 1 forwards SIGTERM to the primary, which drains; it also reaps), and
# reports health from /readyz. No Docker engine runs in CI: test/deploy/dockerfile.test.ts lints
# this file and scripts/docker-steps.mjs runs its build and run steps in a temporary directory.

FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The config document's validator is generated as standalone code at build time.
COPY scripts/build-validator.mjs ./scripts/
# The web console (ui/, built into dist/ui/ with the config schema's validators).
COPY ui ./ui
COPY schema ./schema
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20.20-bookworm-slim AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORTICO_CONFIG=/etc/portico/portico.yaml
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY deploy/portico.yaml /etc/portico/portico.yaml
USER node
EXPOSE 8080 9180
# /readyz turns 503 while starting, while a worker restarts and while draining.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9180/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "bin/portico.js", "start"]
