# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Installs the built library into a private prefix, then configures, builds
# and runs tests/consumer against that prefix only.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
macro(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}\n${err}")
  endif()
endmacro()
run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})
foreach(f include/consentry/guard.h include/consentry/v1/consent.pb.h
          include/consentry/v1/consent.proto
          lib/cmake/consentry/consentryConfig.cmake
          share/consentry/policies/default.textproto)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
# Every public header is installed (this build has both stores).
file(GLOB public RELATIVE ${SOURCE_DIR}/include
     ${SOURCE_DIR}/include/consentry/*.h)
foreach(f ${public})
  if(NOT EXISTS ${prefix}/include/${f})
    message(FATAL_ERROR "public header not installed: ${f}")
  endif()
endforeach()
if(EXISTS ${prefix}/include/consentry/internal OR
   EXISTS ${prefix}/include/src)
  message(FATAL_ERROR "internal headers were installed")
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build
    -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer ${WORK_DIR})
message(STATUS "${out}")
# The PostgreSQL consumer, on the tests' throwaway server.
file(READ $ENV{CONSENTRY_PG_CONNINFO_FILE} conninfo)
string(STRIP "${conninfo}" conninfo)
run(${WORK_DIR}/build/consumer_postgres ${conninfo})
message(STATUS "${out}")
