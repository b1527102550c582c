# syntax=docker/dockerfile:1
# mtls-ca as a container image (see "Deploying" in README.md).
#   docker build -t mtls-ca .
#   docker run -p 8080:8080 -v mtls-ca-data:/data mtls-ca
# Node 20 reached its end of life in April 2026: the image runs the Node 22 LTS (the package supports >= 20.19).
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: install everything, compile, then keep only what runs ----
FROM ${NODE_IMAGE} AS build
# python3, make and g++ build the optional native PKCS#11 binding (pkcs11js) for CA_KEY_PKCS11_URI.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# `prisma generate` needs no engine; pointing the schema-engine variable at an existing file keeps prisma's
# install script and CLI from downloading one, so the build needs nothing but the npm registry.
ENV PRISMA_SCHEMA_ENGINE_BINARY=/usr/local/bin/node \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1 \
    npm_config_audit=false \
    npm_config_fund=false \
    npm_config_update_notifier=false
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY src ./src
COPY console ./console
# `npm ci` installs from the lockfile, builds pkcs11js (an optional dependency: skipped if it cannot build)
# and runs `prepare`, which is `npm run build`: prisma generate, tsc into dist/, and the console (Vite) into
# dist/console.
RUN --mount=type=cache,target=/root/.npm npm ci \
 && node -e "try { require('pkcs11js'); console.log('pkcs11js: built (CA_KEY_PKCS11_URI available)') } catch { console.log('pkcs11js: not built (CA_KEY_PKCS11_URI unavailable in this image)') }"
# Runtime dependencies only. `--omit=dev` alone keeps the prisma CLI (an optional peer of @prisma/client,
# which npm treats as dev-and-optional), so optional packages are omitted too and the one optional package
# the service uses, the native pkcs11js just built, is carried over by hand.
RUN if [ -d node_modules/pkcs11js ]; then mv node_modules/pkcs11js /tmp/pkcs11js; fi \
 && npm prune --omit=dev --omit=optional \
 && if [ -d /tmp/pkcs11js ]; then mv /tmp/pkcs11js node_modules/pkcs11js; fi

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    MTLS_CA_DATA_DIR=/data \
    PORT=8080
# A numeric, non-root user (Kubernetes' runAsNonRoot can check it). The data directory is the only place
# it may write; the code stays owned by root.
RUN groupadd --system --gid 10001 mtls-ca \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin mtls-ca \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 0700 /data
WORKDIR /app
COPY package.json ./
COPY bin ./bin
COPY prisma/migrations ./prisma/migrations
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 10001:10001
# The embedded database (without DATABASE_URL) and, without MTLS_CA_MASTER_KEY, the CA key and token pepper.
VOLUME ["/data"]
EXPOSE 8080
# The service finishes requests in flight on SIGTERM (SHUTDOWN_TIMEOUT_MS), then exits 0.
STOPSIGNAL SIGTERM
# Ready = the database answers, the CA key is loaded and the CRL is current. The first start applies
# migrations and may create the CA: hence the start period.
HEALTHCHECK --interval=10s --timeout=5s --start-period=90s --retries=3 \
  CMD ["node", "-e", "require('http').get({ host: '127.0.0.1', port: process.env.PORT || 8080, path: '/readyz', timeout: 4000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"]
ENTRYPOINT ["node", "bin/mtls-ca.js"]
CMD ["serve"]
