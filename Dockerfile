# The tagpipe app image: one image for every TypeScript workload, the subcommand picks the role.
#   collector:        docker run -p 8080:8080 --env-file collector.env IMAGE collect
#   batch sync job:   docker run --env-file sync.env -v $PWD/tagpipe.yaml:/etc/tagpipe/tagpipe.yaml:ro IMAGE sync run --due
#   streaming sync:   docker run -p 8080:8080 --env-file sync.env -v ...:/etc/tagpipe/tagpipe.yaml:ro IMAGE stream-sync
# (Terraform sets the same entrypoint and passes the subcommand as args; see terraform/modules/tagpipe.)
# Runtime: Node.js 22 LTS (security fixes until April 2027; Node 20's ended in April 2026). Its npm 10 installs
# from package-lock.json with `npm ci`.

# --- build: full dependencies, compile TypeScript to dist/ ------------------------------------------------------
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY functions ./functions
COPY destinations ./destinations
RUN npm run build

# --- deps: production dependencies only (native DuckDB and esbuild binaries for this platform) -------------------
FROM node:22-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime: compiled code, production modules, the SDK sources the collector bundles at start -----------------
FROM node:22-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# /sdk.js is bundled from sdk/src with esbuild when the collector starts; /demo and /debug serve sdk/ pages.
COPY sdk/src ./sdk/src
COPY sdk/demo ./sdk/demo
COPY sdk/debug ./sdk/debug
# The code is owned by root and read-only to the app; the app writes only under /tmp (TAGPIPE_DATA_DIR).
USER node
EXPOSE 8080
# node handles SIGTERM itself: the collector and syncs flush pending work before Cloud Run's 10 s grace ends.
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["collect"]
