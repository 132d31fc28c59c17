# syntax=docker/dockerfile:1
# The gateway's image: the policies compiled by the pinned opa in a build stage, the TypeScript
# compiled and the dev dependencies pruned in another, and a small distroless runtime that runs as
# a non-root user with nothing but node, the compiled code, production dependencies and the bundle.
#   docker build -t fhir-privacy-gateway:0.1.0 .
# (test/integration/k8s.test.ts checks this file's structure; CI has no Docker engine to build it.)

FROM golang:1.26-bookworm AS opa
ARG OPA_VERSION=1.22.2
# opa_wasm: `opa build -t wasm` and `opa test -t wasm` need the WebAssembly engine.
RUN GOBIN=/out GOFLAGS=-buildvcs=false go install -tags opa_wasm github.com/open-policy-agent/opa@v${OPA_VERSION}

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm install --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY policies ./policies
COPY --from=opa /out/opa /usr/local/bin/opa
# The bundle is rebuilt from the sources (reproducible: its revision is a hash of them), then the code.
RUN node scripts/policies.mjs build && npx tsc -p tsconfig.json
RUN npm prune --omit=dev --no-audit --no-fund

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/policies/dist ./policies/dist
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/nodejs/bin/node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/fhir-gateway/gateway.yaml"]
