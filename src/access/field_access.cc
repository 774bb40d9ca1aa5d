// Copyright 2026 The consentry Authors.
// SPDX-License-Identifier: Apache-2.0

#include "consentry/field_access.h"

#include "absl/container/flat_hash_map.h"
#include "src/util/mutex.h"

namespace consentry::internal {
namespace {

// Written at static initialization by generated code, read when a plan is
// compiled: a lock is cheap at both.
struct Registry {
  Mutex mu;
  absl::flat_hash_map<const google::protobuf::Message*,
                      const GeneratedFieldAccess*>
      tables ABSL_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* registry = new Registry;  // never destroyed
  return *registry;
}

}  // namespace

bool RegisterGeneratedFieldAccess(const google::protobuf::Message* prototype,
                                  const GeneratedFieldAccess* access) {
  Registry& r = GetRegistry();
  MutexLock lock(&r.mu);
  r.tables.emplace(prototype, access);
  return true;
}

const GeneratedFieldAccess* FindGeneratedFieldAccess(
    const google::protobuf::Message* prototype) {
  Registry& r = GetRegistry();
  MutexLock lock(&r.mu);
  auto it = r.tables.find(prototype);
  return it == r.tables.end() ? nullptr : it->second;
}

}  // namespace consentry::internal
