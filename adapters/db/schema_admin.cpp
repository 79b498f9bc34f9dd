#include "adapters/db/schema_admin.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include <spdlog/spdlog.h>

#include "adapters/db/detail/admin_session.hpp"
#include "common/sale_definition.hpp"

namespace flashsale::db {

namespace {

namespace fs = std::filesystem;

/// FNV-1a 64: a stable fingerprint of a migration file (not a security measure).
std::string checksum_of(const std::string& text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<detail::migration_file> read_migrations(const std::string& sql_dir) {
  std::error_code ec;
  fs::directory_iterator it(sql_dir, ec);
  if (ec)
    throw db_error("migrate: cannot read the SQL directory " + sql_dir + ": " + ec.message());
  std::vector<fs::path> paths;
  for (const auto& entry : it) {
    if (entry.is_regular_file() && entry.path().extension() == ".sql")
      paths.push_back(entry.path());
  }
  if (paths.empty())
    throw db_error("migrate: no .sql file in " + sql_dir);
  std::sort(paths.begin(), paths.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  std::vector<detail::migration_file> files;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in)
      throw db_error("migrate: cannot read " + path.string());
    detail::migration_file f;
    f.name = path.filename().string();
    f.sql = text.str();
    f.checksum = checksum_of(f.sql);
    files.push_back(std::move(f));
  }
  return files;
}

}  // namespace

const char* to_string(define_status status) {
  return status == define_status::created ? "created" : "exists";
}

schema_admin::schema_admin(std::unique_ptr<detail::admin_session> session)
    : session_(std::move(session)) {}

schema_admin::~schema_admin() = default;

std::unique_ptr<schema_admin> schema_admin::connect(const connection_params& params) {
  return std::unique_ptr<schema_admin>(new schema_admin(detail::admin_session::open(params)));
}

bool schema_admin::ensure_database(const connection_params& server, const std::string& name,
                                   const std::string& maintenance_db) {
  auto session = detail::admin_session::open(server.with_dbname(maintenance_db));
  bool created = session->create_database(name);
  if (created)
    spdlog::info("created database {} on {}", name, host_list_text(server.candidates()));
  return created;
}

void schema_admin::drop_database(const connection_params& server, const std::string& name,
                                 const std::string& maintenance_db) {
  detail::admin_session::open(server.with_dbname(maintenance_db))->drop_database(name);
}

const connection_params& schema_admin::params() const {
  return session_->params();
}

std::vector<std::string> schema_admin::migrate(const std::string& sql_dir) {
  std::vector<std::string> applied;
  for (const auto& file : read_migrations(sql_dir)) {
    if (session_->apply_migration(file))
      applied.push_back(file.name);
  }
  return applied;
}

define_status schema_admin::define_product(const product_definition& product) {
  if (product.stock < 0 || product.stock > std::numeric_limits<std::int32_t>::max())
    throw db_error("define product " + product.id + ": stock " + std::to_string(product.stock) +
                   " out of range");
  auto status = session_->define_product(product.id, static_cast<std::int32_t>(product.stock),
                                         product.slots, product.per_user_limit, product.hot);
  if (status == "created")
    return define_status::created;
  if (status == "exists")
    return define_status::exists;
  throw db_error("define_product answered an unknown status '" + status + "'");
}

std::map<std::string, std::int64_t> schema_admin::sold_by_gateway(const std::string& gateway) {
  return session_->sold_by_gateway(gateway);
}

std::vector<product_report> schema_admin::report() {
  return session_->report(nullptr);
}

std::optional<product_report> schema_admin::report(const std::string& product) {
  auto rows = session_->report(&product);
  if (rows.empty())
    return std::nullopt;
  return rows.front();
}

stock_change schema_admin::adjust_stock(const std::string& product, std::int64_t delta,
                                        const std::string& reason) {
  if (delta < std::numeric_limits<std::int32_t>::min() + 1 ||
      delta > std::numeric_limits<std::int32_t>::max())
    throw db_error("adjust stock of " + product + ": delta " + std::to_string(delta) +
                   " out of range (at most 2147483647 units at once)");
  return session_->adjust_stock(product, static_cast<std::int32_t>(delta), reason);
}

void schema_admin::execute(const std::string& sql) {
  session_->execute(sql);
}

}  // namespace flashsale::db
