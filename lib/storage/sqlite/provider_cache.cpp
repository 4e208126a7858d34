// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
#include "storage/sqlite/provider_cache.hpp"

#include <utility>

namespace nexus::sqlite {

std::string ProviderCache::key(std::string_view workspace, std::string_view name_or_id) {
  // Length-prefixed: no (workspace, name) pair can spell another's key.
  std::string k = std::to_string(workspace.size());
  k.reserve(k.size() + 1 + workspace.size() + name_or_id.size());
  k.push_back(':');
  k.append(workspace).append(name_or_id);
  return k;
}

std::uint64_t ProviderCache::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

std::shared_ptr<const Provider> ProviderCache::by_name(std::string_view workspace,
                                                       std::string_view name) const {
  const std::string k = key(workspace, name);
  std::lock_guard lock(mu_);
  auto it = by_name_.find(k);
  return it == by_name_.end() ? nullptr : it->second;
}

std::shared_ptr<const Provider> ProviderCache::by_id(std::string_view workspace,
                                                     std::string_view id) const {
  const std::string k = key(workspace, id);
  std::lock_guard lock(mu_);
  auto it = by_id_.find(k);
  return it == by_id_.end() ? nullptr : it->second;
}

void ProviderCache::insert(std::uint64_t generation, const Provider& provider) {
  if (!enabled()) return;
  auto entry = std::make_shared<const Provider>(provider);
  std::string name_key = key(provider.workspace, provider.spec.name);
  std::string id_key = key(provider.workspace, provider.id);
  std::lock_guard lock(mu_);
  if (generation != generation_) return;
  if (by_name_.size() >= capacity_ && !by_name_.contains(name_key)) {
    // Full: make room by dropping some entry (whichever the table lists
    // first), and its twin under the other key.
    auto victim = by_name_.begin();
    by_id_.erase(key(victim->second->workspace, victim->second->id));
    by_name_.erase(victim);
  }
  // The row may replace one read before a change not yet noticed (a name
  // deleted and created again under a new id): keep the two maps twins.
  if (auto old = by_name_.find(name_key); old != by_name_.end()) {
    by_id_.erase(key(old->second->workspace, old->second->id));
  }
  if (auto old = by_id_.find(id_key); old != by_id_.end()) {
    by_name_.erase(key(old->second->workspace, old->second->spec.name));
  }
  by_name_.insert_or_assign(std::move(name_key), entry);
  by_id_.insert_or_assign(std::move(id_key), std::move(entry));
}

void ProviderCache::clear() {
  std::lock_guard lock(mu_);
  ++generation_;
  by_name_.clear();
  by_id_.clear();
}

std::size_t ProviderCache::size() const {
  std::lock_guard lock(mu_);
  return by_name_.size();
}

}  // namespace nexus::sqlite
