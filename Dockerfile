# The platform image: the builder and the job-watcher (KL_ROLE picks the role).
# Node.js 24 runs the TypeScript sources directly (type stripping): no compile step.
FROM docker.io/library/node:24.9.0-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM docker.io/library/node:24.9.0-bookworm-slim
ENV NODE_ENV=production PORT=8080
WORKDIR /app
COPY --from=dependencies /app/node_modules node_modules/
COPY package.json ./
COPY function/ function/
COPY lib/ lib/
# The base image's non-root `node` user, by number; the files above stay root's.
USER 1000:1000
EXPOSE 8080
# The same Node.js flags as `npm start`: 2 MiB semispaces keep the resident set within its
# bound under bursts of events (docs/PERFORMANCE.md).
CMD ["node", "--max-semi-space-size=2", "function/server.ts"]
