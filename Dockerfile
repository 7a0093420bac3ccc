# PGB's production image. Build: docker build -t pgb .   Run: see compose.yaml.
# Stage 1 installs everything, compiles to dist/ (with the embedded-database template) and drops the
# development packages; stage 2 is Node and that output only, run as the unprivileged `node` user.
# scripts/build-without-container.sh runs the same commands where no container engine exists.

FROM node:20-alpine AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-alpine AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    PGB_CONFIG=/app/config/pgb.json \
    PGB_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
# The production example reads every secret from the environment; mount your own over it.
COPY config/pgb.production.example.json ./config/pgb.json
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
# Ready means the database answers; a failing check makes the orchestrator stop sending traffic.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health/ready`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1 (no shell or npm in between), so SIGTERM reaches PGB's graceful stop directly.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
