# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# Writes the example of a public header as a C++ fragment.
#   cmake -DHEADER=<include/consentry/x.h> -DOUTPUT=<x.h.inc> -P extract_example.cmake
# The example is the comment block that follows the header's "// Example:"
# line: its code lines are indented by at least two spaces after "//", blank
# comment lines ("//") are kept, and it ends at the first line that is not a
# comment or is prose (fewer than two spaces after "//"). A header without
# an example, or with an empty one, is an error: every public header shows
# its use.
file(STRINGS ${HEADER} lines)
set(in_example FALSE)
set(code "")
set(found FALSE)
foreach(line IN LISTS lines)
  if(NOT in_example)
    if(line MATCHES "^// Example:")
      set(in_example TRUE)
      set(found TRUE)
    endif()
    continue()
  endif()
  string(LENGTH "${line}" width)
  if(width GREATER 80)
    message(FATAL_ERROR "${HEADER}: example line over 80 columns (a formatter \"
                        "would reflow it): ${line}")
  endif()
  if(line STREQUAL "//")
    string(APPEND code "\n")
  elseif(line MATCHES "^//   ?(.*)$")
    string(APPEND code "${CMAKE_MATCH_1}\n")
  else()
    break()
  endif()
endforeach()
string(STRIP "${code}" stripped)
if(NOT found OR stripped STREQUAL "")
  message(FATAL_ERROR "${HEADER}: no \"// Example:\" block")
endif()
file(WRITE ${OUTPUT}.tmp "#line 1 \"${HEADER} (example)\"\n${code}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different
                ${OUTPUT}.tmp ${OUTPUT})
