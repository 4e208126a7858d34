// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// A raw sqlite3 connection for tests that look at, or tamper with, a database
// behind the storage's back.
#pragma once

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <string>

namespace nexus::testing {

class RawSqlite {
 public:
  explicit RawSqlite(const std::string& path) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    db_.reset(db);
    REQUIRE(rc == SQLITE_OK);
  }

  // Runs `sql`; REQUIREs success.
  void exec(const std::string& sql) {
    char* error = nullptr;
    int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    INFO(sql << ": " << message);
    REQUIRE(rc == SQLITE_OK);
  }

  // Runs `sql` and returns the SQLite result code; safe off the test thread.
  int try_exec(const std::string& sql) {
    return sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr);
  }

  // The first column of the first row of `sql`, as text ("" for no row).
  std::string text(const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) == SQLITE_OK);
    std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, sqlite3_finalize);
    if (sqlite3_step(stmt.get()) != SQLITE_ROW) return {};
    const auto* value = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
    return value != nullptr ? value : "";
  }

  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Closer> db_;
};

}  // namespace nexus::testing
