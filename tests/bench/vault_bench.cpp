// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
//
// Vault::seal / Vault::open of a 64-byte secret beside the raw libsodium
// XChaCha20-Poly1305 calls they wrap (with a fresh random nonce each, as any
// real seal needs, and the same associated data). Target (issue #4): at
// least 80% of the raw rate. Compare CPU times over many repetitions:
//   nexus_bench_vault --benchmark_repetitions=20 --benchmark_min_time=0.5 \
//     --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "nexus/vault.hpp"

namespace {

const std::string kSecret(64, 's');
const nexus::SealContext kWhere{.workspace = "default",
                                .owner_kind = "connection",
                                .owner_id = "con_01hq3w4k5m6n7p8q9r0s1t2v3w",
                                .field = "credentials.secret_key"};

nexus::Vault& vault() {
  static nexus::Vault v(std::make_shared<const nexus::Keyring>(nexus::Keyring::generate()));
  return v;
}

void BM_VaultSeal(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(vault().seal(kSecret, kWhere));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VaultSeal);

void BM_VaultOpen(benchmark::State& state) {
  std::string env = vault().seal(kSecret, kWhere);
  for (auto _ : state) {
    auto r = vault().open(env, kWhere);
    if (!r.ok()) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VaultOpen);

// The associated data a Vault builds for kWhere: six length-prefixed parts,
// so the raw calls authenticate exactly as many bytes.
std::string vault_ad() {
  std::string ad;
  for (std::string_view part :
       {std::string_view("nexus-seal-v1"), kWhere.workspace, kWhere.owner_kind, kWhere.owner_id,
        kWhere.field, std::string_view("k0123456789ab")}) {
    auto n = static_cast<std::uint32_t>(part.size());
    for (int shift = 24; shift >= 0; shift -= 8)
      ad.push_back(static_cast<char>((n >> shift) & 0xff));
    ad.append(part);
  }
  return ad;
}

struct Raw {
  unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  unsigned char cipher[64 + crypto_aead_xchacha20poly1305_ietf_ABYTES];
  unsigned char plain[64];
  std::string ad = vault_ad();
  Raw() {
    if (sodium_init() < 0) std::abort();
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
  }
};

void BM_RawEncrypt(benchmark::State& state) {
  Raw raw;
  unsigned long long clen = 0;
  for (auto _ : state) {
    randombytes_buf(raw.nonce, sizeof raw.nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        raw.cipher, &clen, reinterpret_cast<const unsigned char*>(kSecret.data()), kSecret.size(),
        reinterpret_cast<const unsigned char*>(raw.ad.data()), raw.ad.size(), nullptr, raw.nonce,
        raw.key);
    benchmark::DoNotOptimize(raw.cipher);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawEncrypt);

void BM_RawDecrypt(benchmark::State& state) {
  Raw raw;
  unsigned long long clen = 0, mlen = 0;
  randombytes_buf(raw.nonce, sizeof raw.nonce);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      raw.cipher, &clen, reinterpret_cast<const unsigned char*>(kSecret.data()), kSecret.size(),
      reinterpret_cast<const unsigned char*>(raw.ad.data()), raw.ad.size(), nullptr, raw.nonce,
      raw.key);
  for (auto _ : state) {
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            raw.plain, &mlen, nullptr, raw.cipher, clen,
            reinterpret_cast<const unsigned char*>(raw.ad.data()), raw.ad.size(), raw.nonce,
            raw.key) != 0) {
      state.SkipWithError("decrypt failed");
    }
    benchmark::DoNotOptimize(raw.plain);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawDecrypt);

}  // namespace

BENCHMARK_MAIN();
