// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// A raw sqlite3 connection for tests that look at, or tamper with, a database
// behind the storage's back.
#pragma once

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "detail/encoding.hpp"
#include "storage/sqlite/migrations.hpp"

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

  // Every row of `sql`, each value tagged with its storage class (NULL,
  // i:integer, r:real, t:text, b:hex of a blob) and joined by '|': two rows
  // compare equal only when every value has the same type and content.
  std::vector<std::string> rows(const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    INFO(sql);
    REQUIRE(sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) == SQLITE_OK);
    std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, sqlite3_finalize);
    std::vector<std::string> out;
    int rc;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(stmt.get()); ++i) {
        if (i > 0) row += '|';
        row += tagged(stmt.get(), i);
      }
      out.push_back(std::move(row));
    }
    REQUIRE(rc == SQLITE_DONE);
    return out;
  }

 private:
  static std::string tagged(sqlite3_stmt* stmt, int column) {
    switch (sqlite3_column_type(stmt, column)) {
      case SQLITE_NULL:
        return "NULL";
      case SQLITE_INTEGER:
        return "i:" + std::to_string(sqlite3_column_int64(stmt, column));
      case SQLITE_FLOAT: {
        char buf[40];
        std::snprintf(buf, sizeof buf, "r:%.17g", sqlite3_column_double(stmt, column));
        return buf;
      }
      case SQLITE_BLOB: {
        const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt, column));
        return "b:" + detail::to_hex(std::string_view(
                          bytes, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))));
      }
      default: {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
        return "t:" +
               std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
      }
    }
  }

  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Closer> db_;
};

// A database at schema `version` as an older Nexus left it: the shipped
// migrations up to `version`, write-ahead logging, closed cleanly.
inline void create_at_schema(const std::string& path, int version) {
  sqlite3* created = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &created, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                          nullptr) == SQLITE_OK);
  sqlite3_close(created);
  RawSqlite db(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
      "applied_at TEXT NOT NULL)");
  for (const sqlite::Migration& m : sqlite::kMigrations) {
    if (m.version > version) break;
    db.exec(m.sql);
    db.exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", '" +
            std::string(m.name) + "', '2026-01-01T00:00:00.000Z')");
  }
}

}  // namespace nexus::testing
