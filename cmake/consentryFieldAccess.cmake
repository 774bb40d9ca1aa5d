# Copyright 2026 The consentry Authors.
# SPDX-License-Identifier: Apache-2.0
#
# consentry_generate_field_access(TARGET <target> PROTOS <file.proto>...
#                                 [IMPORT_DIRS <dir>...]
#                                 [PROTOC_OUT_DIR <dir>])
#
# Runs protoc-gen-consentry on each file and attaches the generated
# `<name>.consentry.cc` (direct field accessors for the projector; see
# consentry/field_access.h) to <target> as an INTERFACE source: every
# executable or library that links <target> compiles it in, so the
# accessors register themselves even when <target> is a static library
# whose unreferenced objects the linker would drop. <target> is the
# library that holds the `protobuf_generate(... LANGUAGE cpp)` output for
# the same files, with the same PROTOC_OUT_DIR (default: the current
# binary directory) and IMPORT_DIRS; consumers need its include
# directories, and link consentry.
function(consentry_generate_field_access)
  cmake_parse_arguments(arg "" "TARGET;PROTOC_OUT_DIR" "PROTOS;IMPORT_DIRS"
                        ${ARGN})
  if(NOT arg_TARGET OR NOT arg_PROTOS)
    message(FATAL_ERROR
            "consentry_generate_field_access: TARGET and PROTOS are required")
  endif()
  if(NOT arg_PROTOC_OUT_DIR)
    set(arg_PROTOC_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  if(TARGET consentry::protoc-gen-consentry)
    set(plugin_target consentry::protoc-gen-consentry)
  elseif(TARGET protoc-gen-consentry)
    set(plugin_target protoc-gen-consentry)
  else()
    message(FATAL_ERROR "consentry_generate_field_access: no "
                        "protoc-gen-consentry target (find_package(consentry))")
  endif()
  set(includes -I ${CMAKE_CURRENT_SOURCE_DIR})
  foreach(dir ${arg_IMPORT_DIRS})
    get_filename_component(abs_dir ${dir} ABSOLUTE)
    list(APPEND includes -I ${abs_dir})
  endforeach()
  set(outs)
  foreach(proto ${arg_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    file(RELATIVE_PATH rel ${CMAKE_CURRENT_SOURCE_DIR} ${abs})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(out ${arg_PROTOC_OUT_DIR}/${stem}.consentry.cc)
    add_custom_command(
      OUTPUT ${out}
      COMMAND protobuf::protoc
      ARGS --plugin=protoc-gen-consentry=$<TARGET_FILE:${plugin_target}>
           --consentry_out ${arg_PROTOC_OUT_DIR} ${includes} ${abs}
      DEPENDS ${abs} ${plugin_target} protobuf::protoc
      COMMENT "Writing consentry field accessors for ${proto}"
      VERBATIM)
    target_sources(${arg_TARGET} INTERFACE ${out})
    list(APPEND outs ${out})
  endforeach()
  # Consumers in other directories compile the files but cannot generate
  # them: <target> (which they depend on) generates them first.
  add_custom_target(${arg_TARGET}_consentry_field_access DEPENDS ${outs})
  add_dependencies(${arg_TARGET} ${arg_TARGET}_consentry_field_access)
endfunction()
