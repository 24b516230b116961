# syntax=docker/dockerfile:1
# quench/quench: everything in one CPU image to try Quench out: quenchd, quench-worker and the
# quench CLI. By default it runs quenchd with one CPU worker (docker/bin/quench-all-in-one);
# given a command, it runs the CLI instead.
#   docker build -f docker/quench.Dockerfile -t quench/quench:0.1.0 .
#   docker run -p 7070:7070 -p 9090:9090 -v $PWD/models:/models:ro quench/quench:0.1.0
#   docker run -v $PWD/models:/models:ro quench/quench:0.1.0 local quantize ...
# Same build and runtime packages as docker/quenchd.Dockerfile. See docker/README.md.

FROM debian:12 AS build
# Parallel compile jobs (empty: every core); lower it where memory is short (~2 GB a job).
ARG QUENCH_BUILD_JOBS=
WORKDIR /src
COPY scripts/packages.txt scripts/packages.txt
COPY docker/packages-build-exclude.txt docker/packages-runtime.txt docker/
COPY docker/scripts/ docker/scripts/
RUN docker/scripts/install-build-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN docker/scripts/build-and-install.sh /tmp/build /opt/quench -DQUENCH_GPU=none \
 && docker/scripts/runtime-packages.sh --require-listed docker/packages-runtime.txt /opt/quench

FROM debian:12-slim AS runtime
COPY docker/scripts/common.sh docker/scripts/install-runtime-deps.sh docker/scripts/add-user.sh \
     docker/packages-runtime.txt /tmp/quench-docker/
RUN /tmp/quench-docker/install-runtime-deps.sh /tmp/quench-docker/packages-runtime.txt \
 && /tmp/quench-docker/add-user.sh quench 10001 /var/lib/quench \
 && install -d -m 0755 /models \
 && rm -rf /var/lib/apt/lists/* /tmp/quench-docker
COPY --from=build /opt/quench/bin/ /usr/local/bin/
COPY --from=build /opt/quench/lib/quench/ /usr/local/lib/quench/
COPY docker/bin/quench-all-in-one docker/bin/quench-healthcheck /usr/local/bin/

USER 10001:10001
WORKDIR /var/lib/quench
VOLUME ["/var/lib/quench"]
EXPOSE 7070 9090
# Only while serving; a CLI run (docker run ... local quantize) has no HTTP port to ask.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["quench-healthcheck", "9090", "/healthz"]
ENTRYPOINT ["quench-all-in-one"]
CMD ["serve"]
