# syntax=docker/dockerfile:1
# The gateway's image: the policies compiled by the pinned opa and the TypeScript compiled (once) in a
# build stage, which then installs what `npm pack` ships (package.json "files": dist/ without the
# demo, the bundle, the schemas) without dev dependencies, and a small distroless runtime that runs as
# a non-root user with nothing but node and that tree: no demo, no @medplum/*, no compiler.
#   docker build --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE_URL=https://... -t fhir-privacy-gateway:0.1.0 .
# (test/integration/k8s.test.ts checks this file's structure and test/integration/production-tree.test.ts
# the tree its install step produces; CI has no Docker engine to build it.)

FROM golang:1.26-bookworm AS opa
ARG OPA_VERSION=1.22.2
# opa_wasm: `opa build -t wasm` and `opa test -t wasm` need the WebAssembly engine.
RUN GOBIN=/out GOFLAGS=-buildvcs=false go install -tags opa_wasm github.com/open-policy-agent/opa@v${OPA_VERSION}

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm install --no-audit --no-fund --ignore-scripts
COPY tsconfig.json README.md ./
COPY src ./src
COPY scripts ./scripts
COPY policies ./policies
COPY schemas ./schemas
# The audit store's schema migrations, applied at start-up (src/audit/store/migrate.ts), shipped in the package.
COPY migrations ./migrations
COPY --from=opa /out/opa /usr/local/bin/opa
# The code, then the bundle, rebuilt from the sources (reproducible: its revision is a hash of them).
# In this order tsc runs once: scripts/policies.mjs compiles only when dist/ is missing or stale.
# build-info.mjs records the revision for fhirgw_build_info and --version (dist/build-info.json).
ARG REVISION=unknown
RUN npx tsc -p tsconfig.json && SOURCE_REVISION="${REVISION}" node scripts/build-info.mjs && node scripts/policies.mjs build
# npm never packs the lock file: it is copied next to the packed tree so the install is the locked one.
RUN npm pack --ignore-scripts --pack-destination /tmp \
 && mkdir /app && tar -xzf /tmp/fhir-privacy-gateway-*.tgz -C /app --strip-components=1 \
 && cp package-lock.json .npmrc /app/ \
 && cd /app && npm ci --omit=dev --ignore-scripts --no-audit --no-fund && rm .npmrc

FROM gcr.io/distroless/nodejs24-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE_URL=
LABEL org.opencontainers.image.title="fhir-privacy-gateway" \
      org.opencontainers.image.description="A SMART-on-FHIR privacy gateway: verifies tokens, decides with Rego compiled to WebAssembly, filters and redacts FHIR responses, audits every decision." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app ./
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/nodejs/bin/node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/fhir-gateway/gateway.yaml"]
