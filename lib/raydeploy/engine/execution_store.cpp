// Execution rows: mapping between execution_record and the executions table.
#include "raydeploy/engine/execution_store.hpp"

#include "raydeploy/store/json_columns.hpp"

#include <boost/json/serialize.hpp>

namespace raydeploy {
namespace {

constexpr std::string_view select_columns =
    "SELECT rowid, id, checkpoint, status, params, created_at, started_at, finished_at, rc, status_reason, "
    "progress, host_summary, error, final_counter, pgid, boot_id, process_start, requested_by, deployment_id, approval_id, "
    "results, (report IS NOT NULL OR report_markdown IS NOT NULL), attachment FROM executions ";

execution_record read_row(const sqlite::statement& row)
{
    execution_record record;
    record.rowid = row.column_int(0);
    record.id = row.column_text(1);
    record.checkpoint = row.column_text(2);
    record.status = parse_execution_status(row.column_text(3)).value_or(execution_status::failed);
    record.params = params_from_json(sqlite::parse_object_column(row.column_text(4)));
    record.created_at = row.column_text(5);
    if (!row.column_is_null(6)) record.started_at = row.column_text(6);
    if (!row.column_is_null(7)) record.finished_at = row.column_text(7);
    if (!row.column_is_null(8)) record.rc = static_cast<int>(row.column_int(8));
    if (!row.column_is_null(9)) record.status_reason = row.column_text(9);
    record.progress = sqlite::parse_object_column(row.column_text(10));
    record.host_summary = sqlite::parse_object_column(row.column_text(11));
    if (!row.column_is_null(12)) record.error = sqlite::parse_object_column(row.column_text(12));
    if (!row.column_is_null(13)) record.final_counter = row.column_int(13);
    if (!row.column_is_null(14)) record.pgid = static_cast<int>(row.column_int(14));
    if (!row.column_is_null(15)) record.boot_id = row.column_text(15);
    if (!row.column_is_null(16)) record.process_start = row.column_int(16);
    if (!row.column_is_null(17)) record.requested_by = row.column_text(17);
    if (!row.column_is_null(18)) record.deployment_id = row.column_text(18);
    if (!row.column_is_null(19)) record.approval_id = row.column_text(19);
    record.results = sqlite::parse_object_column(row.column_text(20));
    record.has_report = row.column_int(21) != 0;
    if (!row.column_is_null(22)) record.attachment = sqlite::parse_object_column(row.column_text(22));
    return record;
}

}  // namespace

void execution_store::insert(execution_record& record, const std::function<void(const execution_record&)>& with_row)
{
    sqlite::transaction transaction{db_};
    auto statement = db_.prepare(
        "INSERT INTO executions (id, checkpoint, status, params, created_at, requested_by, deployment_id, approval_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    statement.bind(1, record.id)
        .bind(2, record.checkpoint)
        .bind(3, to_string(record.status))
        .bind(4, boost::json::serialize(to_json(record.params)))
        .bind(5, record.created_at);
    sqlite::bind_optional(statement, 6, record.requested_by);
    sqlite::bind_optional(statement, 7, record.deployment_id);
    sqlite::bind_optional(statement, 8, record.approval_id);
    statement.step();
    record.rowid = db_.last_insert_rowid();
    write(record);
    if (with_row) with_row(record);
    transaction.commit();
    // Only now: a rolled-back row must not become a checkpoint's latest run.
    remember(record);
}

void execution_store::load_latest()
{
    latest_.emplace();
    // Through the index on (checkpoint, created_at): one row per checkpoint.
    auto statement = db_.prepare(std::string{select_columns} +
                                 "WHERE rowid IN (SELECT max(rowid) FROM executions GROUP BY checkpoint)");
    while (statement.step()) {
        auto record = read_row(statement);
        latest_->insert_or_assign(record.checkpoint, std::move(record));
    }
}

void execution_store::remember(const execution_record& record)
{
    ++generation_;
    if (!latest_) return;  // loaded, with this write in it, when first asked
    const auto it = latest_->find(record.checkpoint);
    if (it == latest_->end()) {
        latest_->emplace(record.checkpoint, record);
    } else if (record.rowid >= it->second.rowid) {
        // Only save_report() changes whether a run has a report; the caller's copy may not know.
        const bool has_report = it->second.id == record.id ? it->second.has_report : record.has_report;
        it->second = record;
        it->second.has_report = has_report;
    }
}

const execution_record* execution_store::latest(std::string_view checkpoint)
{
    if (!latest_) load_latest();
    const auto it = latest_->find(checkpoint);
    return it == latest_->end() ? nullptr : &it->second;
}

void execution_store::update(const execution_record& record)
{
    write(record);
    remember(record);
}

void execution_store::write(const execution_record& record)
{
    auto statement = db_.prepare(
        "UPDATE executions SET status = ?, started_at = ?, finished_at = ?, rc = ?, status_reason = ?, progress = ?, "
        "host_summary = ?, error = ?, final_counter = ?, pgid = ?, boot_id = ?, process_start = ?, results = ?, "
        "attachment = ? WHERE id = ?");
    statement.bind(1, to_string(record.status));
    sqlite::bind_optional(statement, 2, record.started_at);
    sqlite::bind_optional(statement, 3, record.finished_at);
    sqlite::bind_optional(statement, 4, record.rc);
    sqlite::bind_optional(statement, 5, record.status_reason);
    statement.bind(6, boost::json::serialize(record.progress));
    statement.bind(7, boost::json::serialize(record.host_summary));
    if (record.error) statement.bind(8, boost::json::serialize(*record.error));
    else statement.bind_null(8);
    sqlite::bind_optional(statement, 9, record.final_counter);
    sqlite::bind_optional(statement, 10, record.pgid);
    sqlite::bind_optional(statement, 11, record.boot_id);
    sqlite::bind_optional(statement, 12, record.process_start);
    statement.bind(13, boost::json::serialize(record.results));
    if (record.attachment.empty()) statement.bind_null(14);
    else statement.bind(14, boost::json::serialize(record.attachment));
    statement.bind(15, record.id);
    statement.step();
}

void execution_store::save_report(std::string_view id, const execution_report& report)
{
    auto statement = db_.prepare("UPDATE executions SET report = ?, report_markdown = ? WHERE id = ?");
    if (report.json) statement.bind(1, boost::json::serialize(*report.json));
    else statement.bind_null(1);
    sqlite::bind_optional(statement, 2, report.markdown);
    statement.bind(3, id);
    statement.step();
    ++generation_;  // has_report changed
    if (latest_)
        for (auto& [checkpoint, record] : *latest_)
            if (record.id == id) record.has_report = !report.empty();
}

std::optional<execution_report> execution_store::report(std::string_view id)
{
    auto statement = db_.prepare("SELECT report, report_markdown FROM executions WHERE id = ?");
    statement.bind(1, id);
    if (!statement.step()) return std::nullopt;
    execution_report report;
    if (!statement.column_is_null(0)) {
        boost::system::error_code ec;
        auto value = boost::json::parse(statement.column_text(0), ec);
        if (!ec) report.json = std::move(value);
    }
    report.markdown = sqlite::optional_text_column(statement, 1);
    return report;
}

std::optional<execution_record> execution_store::get(std::string_view id)
{
    auto statement = db_.prepare(std::string{select_columns} + "WHERE id = ?");
    statement.bind(1, id);
    if (!statement.step()) return std::nullopt;
    return read_row(statement);
}

std::string execution_list_sql(const execution_filter& filter)
{
    // A condition like `?1 IS NULL OR created_at > ?1` would keep SQLite from using the index on
    // created_at: only the conditions given.
    std::string sql{select_columns};
    sql += "WHERE 1";
    if (filter.checkpoint) sql += " AND checkpoint = :checkpoint";
    if (filter.status) sql += " AND status = :status";
    if (filter.before_rowid) sql += " AND rowid < :before_rowid";
    if (filter.created_after) sql += " AND created_at > :created_after";
    if (filter.created_before) sql += " AND created_at < :created_before";
    if (filter.with_report) sql += " AND (report IS NOT NULL OR report_markdown IS NOT NULL)";
    sql += " ORDER BY rowid DESC LIMIT :limit";
    return sql;
}

std::vector<execution_record> execution_store::list(const execution_filter& filter)
{
    const std::string sql = execution_list_sql(filter);
    auto statement = db_.prepare(sql);
    if (filter.checkpoint) statement.bind_named(":checkpoint", *filter.checkpoint);
    if (filter.status) statement.bind_named(":status", to_string(*filter.status));
    if (filter.before_rowid) statement.bind_named(":before_rowid", *filter.before_rowid);
    if (filter.created_after) statement.bind_named(":created_after", *filter.created_after);
    if (filter.created_before) statement.bind_named(":created_before", *filter.created_before);
    statement.bind_named(":limit", static_cast<std::int64_t>(filter.limit));
    std::vector<execution_record> records;
    while (statement.step()) records.push_back(read_row(statement));
    return records;
}

std::vector<execution_record> execution_store::with_status(std::initializer_list<execution_status> statuses)
{
    std::string placeholders;
    for (std::size_t i = 0; i < statuses.size(); ++i) placeholders += i ? ", ?" : "?";
    auto statement = db_.prepare(std::string{select_columns} + "WHERE status IN (" + placeholders + ") ORDER BY rowid");
    int index = 1;
    for (auto status : statuses) statement.bind(index++, to_string(status));
    std::vector<execution_record> records;
    while (statement.step()) records.push_back(read_row(statement));
    return records;
}

std::int64_t execution_store::max_counter(std::string_view id)
{
    auto statement = db_.prepare("SELECT coalesce(max(counter), 0) FROM events WHERE execution_id = ?");
    statement.bind(1, id);
    statement.step();
    return statement.column_int(0);
}

}  // namespace raydeploy
