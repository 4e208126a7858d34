// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// The storage conformance harness: every backend in storage_backends() runs
// every conformance test. A new backend joins by adding one factory there.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/audit.hpp"
#include "nexus/provider.hpp"
#include "nexus/storage.hpp"
#include "test_support.hpp"

namespace nexus::testing {

// A storage under test and whatever must outlive it (its temp directory).
struct StorageUnderTest {
  std::unique_ptr<TempDir> dir;  // declared first: removed after the storage closes
  std::unique_ptr<Storage> storage;

  Storage& operator*() const { return *storage; }
  Storage* operator->() const { return storage.get(); }
};

struct StorageBackend {
  std::string name;
  std::function<StorageUnderTest()> make;  // a fresh, empty storage per call
};

// Every backend of the library: "memory", "sqlite" (a new file in a fresh
// temp directory per call).
const std::vector<StorageBackend>& storage_backends();

// One run of the enclosing TEST_CASE per backend; the backend's name is
// reported with any failure.
#define NEXUS_FOR_EACH_STORAGE_BACKEND(backend)                                      \
  const ::nexus::testing::StorageBackend& backend =                                  \
      GENERATE(Catch::Generators::from_range(::nexus::testing::storage_backends())); \
  INFO("storage backend: " << backend.name)

// A fixed instant, so tests compare timestamps exactly.
inline constexpr Timestamp kT0{std::chrono::milliseconds{1'780'000'000'123}};

// An oauth2 provider with only a name: every optional field absent.
Provider minimal_provider(std::string_view workspace, std::string_view name);

// A provider with every optional field set, params of all four value types and
// a credential schema.
Provider full_provider(std::string_view workspace, std::string_view name);

// An audit event about `provider` with a fresh id; seq, prev_hash and hash are
// left for the storage to set.
AuditEvent event_for(std::string_view event_type, const Provider& provider, Timestamp at = kT0);

// `provider` as the next version: version + 1, updated_at later.
Provider next_version(Provider provider);

// An envelope-shaped value under `key_id` (the storage never opens it).
std::string fake_envelope(std::string_view key_id, std::string_view body);

// Connection `id` of `user` through `p`, with two sealed values under key k1.
ConnectionRecord connection_for(const Provider& p, std::string id, std::string user);

// An audit event of `type` about connection `c`, with an id of its own.
AuditEvent connection_event(const ConnectionRecord& c, std::string_view type);

// Re-seals, through `storage`, every envelope not under `key_id` as
// fake_envelope(key_id, its field), as a key rotation would.
void reseal_all(Storage& storage, std::string_view key_id);

// Names of `providers`, in order.
std::vector<std::string> names_of(const std::vector<Provider>& providers);
// Seqs of `events`, in order.
std::vector<std::int64_t> seqs_of(const std::vector<AuditEvent>& events);

}  // namespace nexus::testing
