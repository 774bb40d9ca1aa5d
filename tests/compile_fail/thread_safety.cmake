# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Compiles thread_safety.cc once per case with clang -Wthread-safety -Werror:
# CASE_OK must compile, every other case must be rejected by the analysis.
cmake_policy(SET CMP0007 NEW)
set(flags -std=c++20 -fsyntax-only -Wthread-safety -Werror
          -I${ROOT} -I${ROOT}/include)
set(cases
  "CASE_OK|"
  "CASE_UNLOCKED_WRITE|requires holding mutex"
  "CASE_WRITE_UNDER_READER_LOCK|requires holding mutex 'mu_' exclusively"
  "CASE_HELPER_WITHOUT_LOCK|requires holding mutex"
  "CASE_DOUBLE_LOCK|while mutex 'mu_' is held")
set(failures 0)
foreach(entry ${cases})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 case)
  list(GET parts 1 pattern)
  execute_process(COMMAND ${CXX} ${flags} -D${case} ${SOURCE}
                  RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  if(case STREQUAL "CASE_OK")
    if(NOT rc EQUAL 0)
      message(SEND_ERROR "${case}: correct locking does not compile:\n${err}")
      math(EXPR failures "${failures}+1")
    endif()
  elseif(rc EQUAL 0)
    message(SEND_ERROR "${case}: compiled; -Wthread-safety missed the mistake")
    math(EXPR failures "${failures}+1")
  else()
    string(FIND "${err}" "${pattern}" pos)
    if(pos EQUAL -1)
      message(SEND_ERROR "${case}: rejected, but not for '${pattern}':\n${err}")
      math(EXPR failures "${failures}+1")
    else()
      message(STATUS "${case}: rejected by -Wthread-safety, as it must be")
    endif()
  endif()
endforeach()
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} thread-safety case(s) wrong")
endif()
