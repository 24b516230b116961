# Per-target settings for Quench's own code: strict warnings (errors) and optional sanitizers.
# Third-party code keeps its own flags.
function(quench_configure_target target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Werror -Wno-error=deprecated-declarations>)
  if(QUENCH_SANITIZE)
    string(REPLACE ";" "," _sanitizers "${QUENCH_SANITIZE}")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${_sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all>
      # GCC 12 reports false maybe-uninitialized warnings inside libstdc++ (std::regex,
      # std::function) once sanitizers change inlining; they stay warnings there.
      $<$<COMPILE_LANGUAGE:CXX>:-Wno-error=maybe-uninitialized>)
    target_link_options(${target} PRIVATE -fsanitize=${_sanitizers})
  endif()
endfunction()

# A GoogleTest executable for one component, registered with ctest under the given labels.
function(quench_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  quench_configure_target(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    QUENCH_SHARED_DIR="${CMAKE_SOURCE_DIR}/../shared"
    QUENCH_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
  set(_labels unit)
  if(ARG_LABELS)
    set(_labels ${ARG_LABELS})
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${_labels}" DISCOVERY_TIMEOUT 60)
endfunction()
