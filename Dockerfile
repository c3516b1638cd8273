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
USER 1000:1000
EXPOSE 8080
CMD ["node", "function/server.ts"]
