// A thin RAII layer over the SQLite C API: a connection and prepared statements whose errors
// come back as absl::Status with SQLite's message. Not thread-safe: the owner serialises calls.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace quench::server {

class SqliteStatement;

class SqliteDb {
 public:
  // Opens (creating) the database file.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::filesystem::path& path);
  ~SqliteDb();

  // Runs one or more statements without results (DDL, pragmas, BEGIN/COMMIT).
  absl::Status Execute(absl::string_view sql);
  absl::StatusOr<SqliteStatement> Prepare(absl::string_view sql);
  // A single text value, e.g. `PRAGMA journal_mode`.
  absl::StatusOr<std::string> QueryText(absl::string_view sql);
  int64_t changes() const;
  absl::Status Error(absl::string_view what) const;

 private:
  explicit SqliteDb(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::filesystem::path path_;
};

class SqliteStatement {
 public:
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  ~SqliteStatement();

  // Parameters are 1-based, as in SQL's ?1, ?2, ...
  SqliteStatement& Bind(int index, absl::string_view text);
  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, double value);
  SqliteStatement& BindBlob(int index, absl::string_view bytes);

  // Advances: true with a row to read, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion (a statement without rows).
  absl::Status Run();

  std::string Text(int column) const;  // 0-based, as sqlite3_column_*
  int64_t Int(int column) const;
  double Double(int column) const;

 private:
  friend class SqliteDb;
  SqliteStatement(const SqliteDb* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  const SqliteDb* db_;
  sqlite3_stmt* statement_;
  absl::Status bind_error_;
};

}  // namespace quench::server
