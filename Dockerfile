# syntax=docker/dockerfile:1
# TrustPlane Auth: one image for the authz server, the broker, the echo upstream and the CLI.
#   docker build -t trustplane-auth:0.1.0 .
# Stage 1 compiles the product TypeScript (tsconfig.build.json: no test/, bench/ or scripts/*.ts,
# which .dockerignore leaves out or which import test helpers) and the AssemblyScript wasm filter
# with the dev dependencies; the final stage holds production dependencies and build output only,
# and runs as a numeric non-root user.
#
# Node 22 is an LTS line (https://nodejs.org/en/about/previous-releases). The base is pinned by
# digest so that a rebuild gets the same bytes; refresh the digest (and the tag it came from) with
#   docker buildx imagetools inspect node:22-bookworm-slim
# docs/deployment.md ("The image") says where this digest came from. test/deploy/image.test.ts
# rebuilds this stage's output from the build context .dockerignore leaves.
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the sources are not copied yet, so the `prepare` build runs below instead.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build:image

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
 && chown 1000:1000 /lab /var/run/trustplane /opt/trustplane/envoy-wasm
# Numeric uid:gid (the base image's `node` user): Kubernetes' runAsNonRoot can only verify a
# numeric user; with a user name the kubelet refuses the container (CreateContainerConfigError).
USER 1000:1000
# gRPC ext_authz, server metrics/health, broker health, echo upstream.
EXPOSE 9191 9464 9465 8080
CMD ["node", "dist/cli/src/main.js", "server", "--config", "/etc/trustplane/server.yaml"]
