// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
// Private: RAII over sqlite3 handles, a per-connection cache of prepared
// statements, and the mapping of SQLite result codes to Status.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "nexus/status.hpp"

namespace nexus::sqlite {

struct DatabaseCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using DatabasePtr = std::unique_ptr<sqlite3, DatabaseCloser>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// SQLITE_BUSY or SQLITE_LOCKED, with or without an extended code.
bool is_busy(int rc) noexcept;

// The Status of a failed SQLite call made while trying to `operation` ("insert
// a provider"): kUnavailable when the database is locked past the busy timeout
// or cannot be reached, kInternal otherwise. Never includes record contents.
Status error_status(int rc, std::string_view operation);

// A prepared statement borrowed from a Connection's cache. Resets it and
// clears its bindings when destroyed, so the next user finds it clean and no
// read transaction stays open. Must not outlive the Connection.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  Statement(Statement&& other) noexcept
      : stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1, as in "?1". A failed bind is reported by
  // the next step().
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const std::string& text) {
    return bind(index, std::string_view(text));
  }
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, const std::optional<std::string>& text);  // NULL when absent
  // As bind, without copying `text`: for the fields of a record the caller
  // holds while it runs the statement. REQUIRES: `text` stays alive and
  // unchanged until this Statement is destroyed (which clears its bindings).
  Statement& bind_ref(int index, std::string_view text);
  Statement& bind_ref(int index, const std::string& text) {
    return bind_ref(index, std::string_view(text));
  }
  Statement& bind_ref(int index, const std::optional<std::string>& text);  // NULL when absent
  Statement& bind_ref(int index, std::string&& text) = delete;             // would dangle
  Statement& bind_ref(int index, std::optional<std::string>&& text) = delete;
  Statement& bind_null(int index);
  Statement& bind_blob(int index, std::string_view bytes);

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step();
  // Steps until SQLITE_DONE: for statements that return no rows.
  int run();

  // The columns of the current row, numbered from 0. REQUIRES: step() just
  // returned SQLITE_ROW.
  bool is_null(int column) const;
  std::string text(int column) const;  // "" for NULL
  // The text without a copy; valid until the next step() or reset.
  std::string_view text_view(int column) const;  // "" for NULL
  std::optional<std::string> optional_text(int column) const;
  std::int64_t integer(int column) const;
  std::string blob(int column) const;  // "" for NULL
  bool is_blob(int column) const;

 private:
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// One database connection and its prepared statements. Not thread-safe: the
// owner makes sure one thread at a time uses it (see SqliteStorage).
class Connection {
 public:
  enum class Mode { kReadOnly, kReadWrite, kReadWriteCreate };

  // Opens `path` with SQLITE_OPEN_NOMUTEX (the owner serialises access) and
  // extended result codes. On failure, the SQLite result code.
  static std::unique_ptr<Connection> open(const std::string& path, Mode mode, int& rc);

  // A cached statement for `sql`, prepared on first use with
  // SQLITE_PREPARE_PERSISTENT. On failure, the SQLite result code in `rc`.
  std::optional<Statement> prepare(std::string_view sql, int& rc);
  // Prepares (cached) and runs a statement that returns no rows. Returns
  // SQLITE_DONE on success.
  int run(std::string_view sql);
  // Runs one or more statements without caching them (schema changes).
  int exec_script(const char* sql);
  // Runs `PRAGMA name` and returns its first column, or nullopt.
  std::optional<std::string> pragma(std::string_view name);

  bool in_transaction() const noexcept { return sqlite3_get_autocommit(db_.get()) == 0; }
  sqlite3* handle() const noexcept { return db_.get(); }

 private:
  explicit Connection(DatabasePtr db) : db_(std::move(db)) {}

  DatabasePtr db_;
  // Destroyed before db_: finalize every statement before closing.
  std::map<std::string, StatementPtr, std::less<>> statements_;
};

}  // namespace nexus::sqlite
