# syntax=docker/dockerfile:1
# quench/quenchd: the coordinator daemon, built for CPU (quenchd quantizes on its own CPUs when
# no worker is connected; GPU work goes to the worker images).
#   docker build -f docker/quenchd.Dockerfile -t quench/quenchd:0.1.0 .
# The steps are scripts in docker/scripts/, which docker/scripts/check-on-host.sh also runs on
# a Debian 12 host (CI has no Docker daemon). See docker/README.md.

FROM debian:12 AS build
# Parallel compile jobs (empty: every core); lower it where memory is short (~2 GB a job).
ARG QUENCH_BUILD_JOBS=
WORKDIR /src
# The dependency layer comes first so that source changes do not reinstall it.
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
COPY --from=build /opt/quench/bin/quenchd /usr/local/bin/
COPY --from=build /opt/quench/lib/quench/ /usr/local/lib/quench/
COPY docker/bin/quench-healthcheck /usr/local/bin/

USER 10001:10001
WORKDIR /var/lib/quench
# Job store and artifacts. Models are read from /models (mount them read-only).
VOLUME ["/var/lib/quench"]
# 7070: gRPC (jobs, workers); 9090: HTTP (/healthz, /readyz, /metrics, /jobs/<id>/report).
EXPOSE 7070 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["quench-healthcheck", "9090", "/healthz"]
ENTRYPOINT ["quenchd", "--listen", "0.0.0.0:7070", "--http-listen", "0.0.0.0:9090", \
            "--data-dir", "/var/lib/quench", "--model-root", "/models"]
