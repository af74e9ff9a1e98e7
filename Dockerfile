# syntax=docker/dockerfile:1
# TrustPlane Auth: one image for the authz server, the broker, the echo upstream and the CLI.
#   docker build -t trustplane-auth:0.1.0 .
# Stage 1 compiles TypeScript and the AssemblyScript wasm filter with the dev dependencies; the
# final stage holds production dependencies and build output only, and runs as a non-root user.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the sources are not copied yet, so the `prepare` build runs below instead.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY --from=build /src/protos ./protos
COPY --from=build /src/wasm-filter/build ./wasm-filter/build
# Directories the containers write to, owned by the runtime user so that a fresh named volume
# mounted there inherits that ownership: /lab (lab-init output), the broker socket directory, and
# the hand-off directory for the .wasm that Envoy loads.
RUN mkdir -p /lab /var/run/trustplane /opt/trustplane/envoy-wasm /etc/trustplane/bundle \
 && chown node:node /lab /var/run/trustplane /opt/trustplane/envoy-wasm
USER node
# gRPC ext_authz, server metrics/health, broker health, echo upstream.
EXPOSE 9191 9464 9465 8080
CMD ["node", "dist/cli/src/main.js", "server", "--config", "/etc/trustplane/server.yaml"]
