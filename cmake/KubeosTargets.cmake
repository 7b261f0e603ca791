# Helpers that give every target of the project the same warnings, sanitizers and test wiring.

set(KUBEOS_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough
    # Designated initializers deliberately leave members at their defaults.
    -Wno-missing-field-initializers)
if(KUBEOS_WERROR)
  list(APPEND KUBEOS_WARNINGS -Werror)
endif()

if(KUBEOS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

if(KUBEOS_FUZZ)
  # Coverage instrumentation for everything; only the targets in test/fuzz link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# kubeos_library(NAME SOURCES... DEPS ...): a static library of the project.
function(kubeos_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${KUBEOS_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# kubeos_executable(NAME SOURCES... DEPS ...)
function(kubeos_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${KUBEOS_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# kubeos_unit_test(NAME SOURCES... DEPS ...): a GoogleTest binary labelled "unit" (no network, no cluster).
function(kubeos_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${KUBEOS_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

# kubeos_integration_test(NAME SOURCES... DEPS ...): a GoogleTest binary that starts its own control plane
# (one per binary, shared by its tests). Runs serially: the control plane wants both cores.
function(kubeos_integration_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${KUBEOS_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} kubeos_cluster_gtest GTest::gtest GTest::gmock)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 900 RUN_SERIAL TRUE)
  if(KUBEOS_K8S_BIN_DIR)
    # Only when configured, so an empty value never blanks a KUBEOS_K8S_BIN the user exported.
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "KUBEOS_K8S_BIN=${KUBEOS_K8S_BIN_DIR}")
  endif()
endfunction()
