# syntax=docker/dockerfile:1
# quench/quench-worker-rocm: quench-worker built for AMD GPUs (gfx90a MI200, gfx942 MI300X)
# with ROCm, on ubuntu:24.04 with AMD's ROCm runtime packages.
#   docker build -f docker/worker-rocm.Dockerfile -t quench/quench-worker-rocm:0.1.0 .
#   docker run --device /dev/kfd --device /dev/dri --group-add <video gid> \
#     --group-add <render gid> quench/quench-worker-rocm:0.1.0 --coordinator HOST:7070
#
# -DQUENCH_GPU=hip compiles kernels/cuda/ as HIP and links hipBLAS and hipSOLVER (over
# rocSOLVER) through kernels/cuda/gpu_blas.h (kernels/CMakeLists.txt). Debian 12 packages no
# hipBLAS, so this image is the only place that build happens: CI does not compile it, and it
# has not yet been run on an AMD GPU.
#
# The build packages carry Debian 12's names on Ubuntu 24.04 (scripts/packages.txt); the runtime
# library packages do not, so the build stage lists the packages owning what quench-worker and
# the SentencePiece module load (docker/scripts/runtime-packages.sh; the ROCm libraries are
# packages from AMD's repository there too) and the runtime stage installs that list.

# One ROCm release for the build image and the runtime packages.
ARG ROCM_VERSION=6.4.3

FROM rocm/dev-ubuntu-24.04:${ROCM_VERSION} AS build
# Parallel compile jobs (empty: every core); lower it where memory is short (~2 GB a job).
ARG QUENCH_BUILD_JOBS=
ARG HIP_ARCHITECTURES="gfx90a;gfx942"
WORKDIR /src
COPY scripts/packages.txt scripts/packages.txt
COPY docker/packages-build-exclude.txt docker/
COPY docker/scripts/ docker/scripts/
# The rocm/dev image has HIP and its compiler, not the math libraries.
RUN docker/scripts/install-build-deps.sh hipblas-dev hipsolver-dev rocsolver-dev \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN docker/scripts/build-and-install.sh /tmp/build /opt/quench -DQUENCH_GPU=hip \
      -DCMAKE_HIP_COMPILER=/opt/rocm/llvm/bin/clang++ -DCMAKE_PREFIX_PATH=/opt/rocm \
      "-DCMAKE_HIP_ARCHITECTURES=${HIP_ARCHITECTURES}" \
 && docker/scripts/runtime-packages.sh /opt/quench/bin/quench-worker /opt/quench/lib/quench \
      > /opt/runtime-packages.txt \
 && cat /opt/runtime-packages.txt

# AMD's apt repository, set up where curl and gnupg may come and go.
FROM ubuntu:24.04 AS rocm-apt
ARG ROCM_VERSION
COPY docker/scripts/common.sh docker/scripts/add-rocm-apt-repo.sh /tmp/quench-docker/
RUN /tmp/quench-docker/add-rocm-apt-repo.sh "$ROCM_VERSION" && rm -rf /var/lib/apt/lists/*

FROM ubuntu:24.04 AS runtime
COPY docker/scripts/common.sh docker/scripts/install-runtime-deps.sh docker/scripts/add-user.sh \
     docker/packages-runtime-rocm.txt /tmp/quench-docker/
COPY --from=build /opt/runtime-packages.txt /tmp/quench-docker/
COPY --from=rocm-apt /etc/apt/keyrings/rocm.gpg /etc/apt/keyrings/
COPY --from=rocm-apt /etc/apt/preferences.d/rocm-pin-600 /etc/apt/preferences.d/
COPY --from=rocm-apt /etc/apt/sources.list.d/rocm.list /tmp/quench-docker/
# ca-certificates first: AMD's repository is reached over https. The list from the build stage
# names ROCm packages too, so it is installed once that repository is in place.
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends ca-certificates \
 && mv /tmp/quench-docker/rocm.list /etc/apt/sources.list.d/ \
 && /tmp/quench-docker/install-runtime-deps.sh /tmp/quench-docker/runtime-packages.txt \
      /tmp/quench-docker/packages-runtime-rocm.txt \
 && /tmp/quench-docker/add-user.sh quench 10001 /var/lib/quench \
 && install -d -m 0755 /models \
 && rm -rf /var/lib/apt/lists/* /tmp/quench-docker
COPY --from=build /opt/quench/bin/quench-worker /usr/local/bin/
COPY --from=build /opt/quench/lib/quench/ /usr/local/lib/quench/
# ROCm's libraries live in /opt/rocm/lib (the programs also keep the build's RUNPATH to them);
# its tools (rocminfo) in /opt/rocm/bin.
ENV PATH=/opt/rocm/bin:${PATH} \
    LD_LIBRARY_PATH=/opt/rocm/lib

USER 10001:10001
WORKDIR /var/lib/quench
# No port and no HEALTHCHECK: the worker serves nothing (see worker-cuda.Dockerfile).
ENTRYPOINT ["quench-worker", "--device", "hip:0"]
CMD ["--coordinator", "quenchd:7070"]
