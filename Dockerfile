# The rekey image: `rekey worker` (and `rekey codec-server`) for docker-compose.temporal.yaml.
# Built from this checkout; it holds no secret: rekey.yaml, the SSH identity, known_hosts and the
# codec keys are mounted read-only at run time, Azure credentials come from the environment.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# npm install, not npm ci: the lock lacks other platforms' optional binaries (see test/infra/run-tests.sh).
RUN npm install --ignore-scripts --no-audit --no-fund
COPY bin ./bin
COPY activities ./activities
COPY client ./client
COPY config ./config
COPY hosts ./hosts
COPY notify ./notify
COPY services ./services
COPY stores ./stores
COPY temporal ./temporal
COPY shared ./shared
COPY worker ./worker
COPY workflows ./workflows
# tsconfig also names test/ and bench/, which the image leaves out.
RUN mkdir -p test bench && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends openssh-client rsync \
  && rm -rf /var/lib/apt/lists/* \
  && useradd --system --uid 10001 --create-home --home-dir /home/rekey rekey
WORKDIR /opt/rekey
# Fewer glibc malloc arenas for the worker's threads: about 40 MiB less RSS under load (docs/deployment.md).
ENV MALLOC_ARENA_MAX=2
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
USER rekey
ENTRYPOINT ["node", "/opt/rekey/bin/rekey"]
CMD ["worker", "--config", "/etc/rekey/rekey.yaml"]
