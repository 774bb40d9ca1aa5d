# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Compiles SOURCE once per case. CASE_OK must succeed (so a failure below is
# about the misuse, not a broken include path); each other case must fail
# with an error matching its pattern.
cmake_policy(SET CMP0007 NEW)
string(REPLACE "|" ";" include_list "${INCLUDES}")
set(flags -std=c++20 -fsyntax-only)
foreach(dir ${include_list})
  list(APPEND flags -I${dir})
endforeach()

set(cases
  "CASE_OK|"
  "CASE_READ_WITHOUT_GRANT|no matching function|no matching member function|candidate expects 1 argument|too few arguments"
  "CASE_GETTER|has no member named|no member named"
  "CASE_PRIVATE_MEMBER|private"
  "CASE_FORGE_GRANT|private"
  "CASE_DEFAULT_GRANT|no matching function|no default constructor|no matching constructor"
  "CASE_COPY_GRANT|deleted"
  "CASE_IMPLICIT_CONVERSION|cannot convert|no viable conversion")

set(failures 0)
foreach(entry ${cases})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 case)
  list(LENGTH parts n)
  execute_process(
    COMMAND ${CXX} ${flags} -D${case} ${SOURCE}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(case STREQUAL "CASE_OK")
    if(NOT rc EQUAL 0)
      message(SEND_ERROR "${case}: the correct use does not compile:\n${err}")
      math(EXPR failures "${failures}+1")
    else()
      message(STATUS "${case}: compiles, as it must")
    endif()
    continue()
  endif()
  if(rc EQUAL 0)
    message(SEND_ERROR "${case}: compiled, but the misuse must not compile")
    math(EXPR failures "${failures}+1")
    continue()
  endif()
  set(matched FALSE)
  math(EXPR last "${n}-1")
  foreach(i RANGE 1 ${last})
    list(GET parts ${i} pattern)
    string(FIND "${err}" "${pattern}" pos)
    if(pos GREATER -1)
      set(matched TRUE)
    endif()
  endforeach()
  if(NOT matched)
    message(SEND_ERROR "${case}: failed for another reason than expected:\n${err}")
    math(EXPR failures "${failures}+1")
  else()
    message(STATUS "${case}: rejected by the compiler, as it must be")
  endif()
endforeach()
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} compile-fail case(s) wrong")
endif()
