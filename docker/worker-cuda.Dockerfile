# syntax=docker/dockerfile:1
# quench/quench-worker-cuda: quench-worker built with CUDA (sm_80 A100, sm_90 H100/H200), on
# NVIDIA's CUDA runtime image.
#   docker build -f docker/worker-cuda.Dockerfile -t quench/quench-worker-cuda:0.1.0 .
#   docker run --gpus all quench/quench-worker-cuda:0.1.0 --coordinator HOST:7070
# The entry point names GPU 0 (one worker per GPU: --gpus '"device=N"' picks which). A CPU
# worker from this image: --entrypoint quench-worker ... --device cpu (the Kubernetes manifests
# set the command themselves).
# NVIDIA's images are Ubuntu 24.04 (there are no Debian ones). The build packages have the same
# names there as in Debian 12 (scripts/packages.txt); the runtime library packages do not
# (t64 suffixes, newer sonames such as libicu74), so the build stage lists the packages owning what
# quench-worker and the SentencePiece module load (docker/scripts/runtime-packages.sh) and the
# runtime stage installs that list.

# One CUDA release for the build (devel) and runtime images.
ARG CUDA_VERSION=13.0.0

FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu24.04 AS build
# Parallel compile jobs (empty: every core); lower it where memory is short (~2 GB a job).
ARG QUENCH_BUILD_JOBS=
ARG CUDA_ARCHITECTURES="80;90"
WORKDIR /src
COPY scripts/packages.txt scripts/packages.txt
COPY docker/packages-build-exclude.txt docker/
COPY docker/scripts/ docker/scripts/
RUN docker/scripts/install-build-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The devel image's cuBLAS and cuSOLVER (and their dependencies) are dpkg packages, so their
# owners land in runtime-packages.txt like every other library's.
RUN docker/scripts/build-and-install.sh /tmp/build /opt/quench -DQUENCH_GPU=cuda \
      -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
      "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}" \
 && docker/scripts/runtime-packages.sh /opt/quench/bin/quench-worker /opt/quench/lib/quench \
      > /opt/runtime-packages.txt \
 && cat /opt/runtime-packages.txt

# The runtime image holds the CUDA runtime, cuBLAS and (through cuda-libraries-13-0) cuSOLVER,
# cuSPARSE and nvJitLink; install-runtime-deps.sh installs only what it lacks.
FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu24.04 AS runtime
COPY docker/scripts/common.sh docker/scripts/install-runtime-deps.sh docker/scripts/add-user.sh \
     /tmp/quench-docker/
COPY --from=build /opt/runtime-packages.txt /tmp/quench-docker/
RUN /tmp/quench-docker/install-runtime-deps.sh /tmp/quench-docker/runtime-packages.txt \
 && /tmp/quench-docker/add-user.sh quench 10001 /var/lib/quench \
 && install -d -m 0755 /models \
 && rm -rf /var/lib/apt/lists/* /tmp/quench-docker
COPY --from=build /opt/quench/bin/quench-worker /usr/local/bin/
COPY --from=build /opt/quench/lib/quench/ /usr/local/lib/quench/

USER 10001:10001
WORKDIR /var/lib/quench
# No port and no HEALTHCHECK: the worker serves nothing. It connects out to quenchd, exits on
# fatal errors (let the orchestrator restart it) and reconnects by itself otherwise.
ENTRYPOINT ["quench-worker", "--device", "cuda:0"]
CMD ["--coordinator", "quenchd:7070"]
