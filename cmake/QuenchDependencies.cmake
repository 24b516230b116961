# Every third-party dependency of Quench, in one place. All come from Debian 12 packages; the
# list of package names is in scripts/setup (keep the two in step).
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)              # libabsl-dev
find_package(Protobuf REQUIRED)                 # libprotobuf-dev, protobuf-compiler (module mode)
find_package(gRPC CONFIG REQUIRED)              # libgrpc++-dev, protobuf-compiler-grpc
find_package(spdlog CONFIG REQUIRED)            # libspdlog-dev
find_package(Eigen3 3.4 REQUIRED NO_MODULE)     # libeigen3-dev
find_package(nlohmann_json 3.10 CONFIG REQUIRED)  # nlohmann-json3-dev
find_package(yaml-cpp CONFIG REQUIRED)         # libyaml-cpp-dev
find_package(CLI11 CONFIG REQUIRED)             # libcli11-dev
find_package(PkgConfig REQUIRED)                # pkg-config
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)  # libsentencepiece-dev
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)            # libpcre2-dev
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc)                  # libicu-dev (NFC for tokenizers)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)             # libsqlite3-dev (quenchd's job store)
find_package(prometheus-cpp CONFIG REQUIRED)     # prometheus-cpp-dev (quenchd's /metrics)
if(QUENCH_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)           # libgtest-dev, libgmock-dev
endif()
if(QUENCH_BUILD_BENCHMARKS)
  find_package(benchmark CONFIG REQUIRED)       # libbenchmark-dev
endif()
