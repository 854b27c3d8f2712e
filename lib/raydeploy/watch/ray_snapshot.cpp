// Parsing, diffing, persisting and viewing Ray snapshots (see ray_snapshot.hpp). Every reader here
// takes JSON of unknown quality: a field of the wrong type counts as absent unless the item cannot
// be identified without it, and nothing throws out of the public functions.
#include "raydeploy/watch/ray_snapshot.hpp"

#include "raydeploy/util/json_events.hpp"
#include "raydeploy/util/time.hpp"
#include "raydeploy/util/json_input.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

namespace raydeploy::watch {

namespace {

using clock = std::chrono::system_clock;

// ---- reading JSON of unknown quality

const json::value* member(const json::object& object, std::string_view key)
{
    return object.if_contains(key);
}

const json::object* object_member(const json::object& object, std::string_view key)
{
    const auto* found = member(object, key);
    return found ? found->if_object() : nullptr;
}

const json::array* array_member(const json::object& object, std::string_view key)
{
    const auto* found = member(object, key);
    return found ? found->if_array() : nullptr;
}

std::optional<std::string> string_member(const json::object& object, std::string_view key)
{
    const auto* found = member(object, key);
    if (!found || !found->is_string()) return std::nullopt;
    return std::string(found->get_string());
}

std::string string_or_empty(const json::object& object, std::string_view key)
{
    return string_member(object, key).value_or(std::string());
}

std::optional<bool> bool_member(const json::object& object, std::string_view key)
{
    const auto* found = member(object, key);
    if (!found || !found->is_bool()) return std::nullopt;
    return found->get_bool();
}

// The same reading of a number as the streaming readers below use (util::json_scalar).
util::json_scalar scalar_of(const json::value& value)
{
    util::json_scalar scalar;
    switch (value.kind()) {
    case json::kind::string:
        scalar.type = util::json_scalar::kind::string;
        scalar.text = value.get_string();
        break;
    case json::kind::int64:
        scalar.type = util::json_scalar::kind::int64;
        scalar.int64 = value.get_int64();
        break;
    case json::kind::uint64:
        scalar.type = util::json_scalar::kind::uint64;
        scalar.uint64 = value.get_uint64();
        break;
    case json::kind::double_:
        scalar.type = util::json_scalar::kind::floating;
        scalar.floating = value.get_double();
        break;
    case json::kind::bool_:
        scalar.type = util::json_scalar::kind::boolean;
        scalar.boolean = value.get_bool();
        break;
    default: break;  // null, and containers: no number
    }
    return scalar;
}

std::optional<double> as_number(const json::value& value) { return scalar_of(value).number(); }

std::optional<double> number_member(const json::object& object, std::string_view key)
{
    const auto* found = member(object, key);
    return found ? as_number(*found) : std::nullopt;
}

std::optional<std::int64_t> as_integer(const json::value& value) { return scalar_of(value).integer(); }

std::optional<std::int64_t> integer_member(const json::object& object, std::string_view key)
{
    const auto* found = member(object, key);
    return found ? as_integer(*found) : std::nullopt;
}

// A value parsed into a short-lived arena, copied into default storage to outlive it.
json::value owned(const json::value& value)
{
    return json::value(value, json::storage_ptr());
}

json::object owned_object(const json::object* object)
{
    json::object copy;
    if (object) copy = *object;  // assignment copies into the destination's (default) storage
    return copy;
}

// A stored node's resources_total and resources_used objects (to_json's shape).
node_resources node_resources_from(const json::object* totals, const json::object* used)
{
    node_resources resources;
    if (!totals) return resources;
    resources.reserve(totals->size());
    for (const auto& entry : *totals)
        if (auto number = as_number(entry.value())) resources.emplace(std::string(entry.key()), node_resource{*number, {}});
    if (!used) return resources;
    for (const auto& entry : *used)
        if (const auto found = resources.find(std::string_view(entry.key())); found != resources.end())
            found->second.used = as_number(entry.value());
    return resources;
}

resource_usages usage_map(const json::object* object)
{
    resource_usages usage;
    if (!object) return usage;
    usage.reserve(object->size());
    for (const auto& entry : *object) {
        const auto* pair = entry.value().if_array();
        if (!pair || pair->size() != 2) continue;
        const auto used = as_number((*pair)[0]);
        const auto total = as_number((*pair)[1]);
        if (used && total) usage.emplace(std::string(entry.key()), resource_usage{*used, *total});
    }
    return usage;
}

// usageByNode {node_id: {resource: [used, total]}}.
decltype(ray_cluster_status::usage_by_node) usage_by_node_list(const json::object& by_node)
{
    decltype(ray_cluster_status::usage_by_node) rows;
    rows.reserve(by_node.size());
    for (const auto& entry : by_node) rows.push_back({std::string(entry.key()), usage_map(entry.value().if_object())});
    return rows;
}

// One job as GET /api/jobs/ lists it, which is also how a snapshot stores it: nullopt without a
// status or any id.
std::optional<ray_job> job_of(const json::object& row)
{
    ray_job job;
    job.submission_id = string_member(row, "submission_id");
    job.job_id = string_member(row, "job_id");
    if (job.submission_id && job.submission_id->empty()) job.submission_id.reset();
    if (job.job_id && job.job_id->empty()) job.job_id.reset();
    auto status = string_member(row, "status");
    if ((!job.submission_id && !job.job_id) || !status) return std::nullopt;
    job.status = std::move(*status);
    job.type = string_member(row, "type").value_or(job.submission_id ? "SUBMISSION" : "DRIVER");
    job.entrypoint = string_or_empty(row, "entrypoint");
    job.message = string_member(row, "message");
    job.error_type = string_member(row, "error_type");
    job.start_time = integer_member(row, "start_time");
    job.end_time = integer_member(row, "end_time");
    job.metadata = owned_object(object_member(row, "metadata"));
    if (const auto* env = member(row, "runtime_env"); env && env->is_object()) job.runtime_env = owned(*env);
    job.driver_exit_code = integer_member(row, "driver_exit_code");
    return job;
}

// Parses a body into an arena that lives as long as the caller's resource.
std::optional<json::value> parse_json(std::string_view body, json::monotonic_resource& arena,
                                      std::string_view endpoint, std::string& error)
{
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = 64;  // Serve configs nest a little; Ray never nests deeper
    auto parsed = util::parse_outside_json(body, ec, json::storage_ptr(&arena), options);
    if (ec) {
        error = "GET " + std::string(endpoint) + " answered invalid JSON (" + ec.message() + ")";
        return std::nullopt;
    }
    return parsed;
}

std::string endpoint_error(std::string_view endpoint, std::string_view what)
{
    return "GET " + std::string(endpoint) + " " + std::string(what);
}

template <class T, class Key>
void sort_unique(std::vector<T>& items, Key key)
{
    // Ray already lists nodes by id: check before moving 10,000 rows around.
    const auto out_of_order = std::adjacent_find(items.begin(), items.end(),
                                                 [&](const T& a, const T& b) { return !(key(a) < key(b)); });
    if (out_of_order == items.end()) return;
    std::stable_sort(items.begin(), items.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
    // Keep the last of equal keys: a list that repeats an id describes it most recently last.
    std::vector<T> unique;
    unique.reserve(items.size());
    for (auto& item : items) {
        if (!unique.empty() && key(unique.back()) == key(item)) unique.back() = std::move(item);
        else unique.push_back(std::move(item));
    }
    items = std::move(unique);
}

const std::string& node_key(const ray_node& node) { return node.node_id; }
const std::string& job_key(const ray_job& job) { return job.key(); }
const std::string& app_key(const serve_application& app) { return app.name; }

void normalise(ray_snapshot& snapshot)
{
    if (snapshot.nodes) sort_unique(*snapshot.nodes, node_key);
    if (snapshot.jobs) sort_unique(*snapshot.jobs, job_key);
    if (snapshot.serve) sort_unique(snapshot.serve->applications, app_key);
}

constexpr std::string_view internal_head_resource = "node:__internal_head__";

// ---- streaming readers for the answers that grow with the cluster (see util/json_events.hpp)

// The legacy and State API envelope {"result": bool, "msg": string, "data": {...}}, read as events;
// a subclass reads what is inside `data` (role data_role) and roles above last_envelope_role.
class envelope_reader : public util::json_event_reader {
public:
    explicit envelope_reader(std::string_view endpoint) : endpoint_(endpoint) {}

    int container(const util::json_place& place, bool is_object) override
    {
        if (place.parent_role == document) {
            root_kind_ = is_object ? json::kind::object : json::kind::array;
            return is_object ? top_role : skip;
        }
        if (place.parent_role == top_role) {
            if (place.key != "data") return skip;
            has_data_ = is_object;
            return is_object ? data_role : skip;
        }
        return inner_container(place, is_object);
    }

    void value(const util::json_place& place, const util::json_scalar& scalar) override
    {
        if (place.parent_role == document) {
            root_kind_ = kind_of(scalar);
        } else if (place.parent_role == top_role) {
            if (place.key == "result") result_ = scalar.is_bool() ? std::optional<bool>(scalar.boolean) : std::nullopt;
            else if (place.key == "msg") message_ = scalar.is_string() ? std::string(scalar.text) : std::string();
            else if (place.key == "data") has_data_ = false;
        } else {
            inner_value(place, scalar);
        }
    }

    // After the parse: what is wrong with the envelope, or empty when data was read.
    std::string envelope_error() const
    {
        if (root_kind_ != json::kind::object)
            return endpoint_error(endpoint_, "answered " + std::string(json::to_string(root_kind_)) +
                                                 ", not the {result, msg, data} envelope");
        if (result_ && !*result_) return endpoint_error(endpoint_, "answered result:false: " + message_);
        if (!has_data_) return endpoint_error(endpoint_, "answered without a data object");
        return {};
    }

protected:
    static constexpr int top_role = 1;
    static constexpr int data_role = 2;
    static constexpr int last_envelope_role = data_role;

    virtual int inner_container(const util::json_place& place, bool is_object) = 0;
    virtual void inner_value(const util::json_place& place, const util::json_scalar& scalar) = 0;

    std::string_view endpoint_;

private:
    static json::kind kind_of(const util::json_scalar& scalar)
    {
        switch (scalar.type) {
        case util::json_scalar::kind::string: return json::kind::string;
        case util::json_scalar::kind::int64: return json::kind::int64;
        case util::json_scalar::kind::uint64: return json::kind::uint64;
        case util::json_scalar::kind::floating: return json::kind::double_;
        case util::json_scalar::kind::boolean: return json::kind::bool_;
        case util::json_scalar::kind::null: return json::kind::null;
        }
        return json::kind::null;
    }

    json::kind root_kind_ = json::kind::null;
    std::optional<bool> result_;
    std::string message_;
    bool has_data_ = false;
};

// Runs `reader` over `body`; the invalid-JSON error as parse_json words it, or empty.
std::string read_events(std::string_view body, util::json_event_reader& reader, std::string_view endpoint)
{
    const auto ec = util::read_json_events(body, reader, 64);
    if (!ec) return {};
    return "GET " + std::string(endpoint) + " answered invalid JSON (" + ec.message() + ")";
}

// GET /api/v0/nodes: data.result.result[] rows, each kept as a ray_node, nothing else built.
class nodes_reader final : public envelope_reader {
public:
    nodes_reader() : envelope_reader(ray_paths::nodes) {}

    parse_result<std::vector<ray_node>> finish(std::string_view body)
    {
        using result = parse_result<std::vector<ray_node>>;
        body_size_ = body.size();
        if (auto error = read_events(body, *this, endpoint_); !error.empty()) return result::failure(std::move(error));
        if (auto error = envelope_error(); !error.empty()) return result::failure(std::move(error));
        if (!has_list_) return result::failure(endpoint_error(endpoint_, "answered without data.result"));
        if (!has_rows_)
            return result::failure(endpoint_error(endpoint_, "answered without the list data.result.result"));
        if (row_count_ > max_ray_nodes)
            return result::failure(endpoint_error(endpoint_, "answered " + std::to_string(row_count_) +
                                                                 " nodes, more than the bound of " +
                                                                 std::to_string(max_ray_nodes)));
        if (!row_error_.empty()) return result::failure(endpoint_error(endpoint_, row_error_));
        sort_unique(nodes_, node_key);
        return {std::move(nodes_), {}};
    }

private:
    enum role : int { list = last_envelope_role + 1, rows, row, resources };

    int inner_container(const util::json_place& place, bool is_object) override
    {
        switch (place.parent_role) {
        case data_role:
            if (place.key != "result") return skip;
            has_list_ = is_object;
            return is_object ? list : skip;
        case list:
            if (place.key != "result") return skip;
            has_rows_ = !is_object;
            return is_object ? skip : rows;
        case rows:
            ++row_count_;
            if (!is_object) {
                note_row_error("answered a node " + std::to_string(place.index) + " that is not an object");
                return skip;
            }
            // Past the bound or past a bad row the answer is refused: count the rows, keep none.
            if (row_count_ > max_ray_nodes || !row_error_.empty()) return skip;
            // Read in place: moving 10,000 finished rows into the list costs more than their fields.
            nodes_.emplace_back().resources.reserve(8);  // CPU, memory, object_store_memory, node:IP, GPU
            current_ = &nodes_.back();
            id_seen_ = state_seen_ = false;
            is_head_.reset();
            return row;
        case row: return place.key == "resources_total" && is_object ? resources : skip;
        default: return skip;
        }
    }

    void inner_value(const util::json_place& place, const util::json_scalar& scalar) override
    {
        if (place.parent_role == list && place.key == "result") {
            has_rows_ = false;
        } else if (place.parent_role == list && place.key == "total") {
            // Ray sends the count before the rows: room for them at once, but never for more rows
            // than the body could hold (a row is at least 32 bytes), whatever a hostile count says.
            if (const auto total = scalar.integer(); total && *total > 0)
                nodes_.reserve(std::min({static_cast<std::size_t>(*total), max_ray_nodes, body_size_ / 32}));
        } else if (place.parent_role == data_role && place.key == "result") {
            has_list_ = false;
        } else if (place.parent_role == rows) {
            ++row_count_;
            note_row_error("answered a node " + std::to_string(place.index) + " that is not an object");
        } else if (place.parent_role == resources) {
            if (const auto number = scalar.number())
                current_->resources.emplace(std::string(place.key), node_resource{*number, {}});
        } else if (place.parent_role == row) {
            read_field(place.key, scalar);
        }
    }

    void end(int ended, std::size_t) override
    {
        if (ended != row) return;
        if (!id_seen_ || current_->node_id.empty() || !state_seen_) {
            nodes_.pop_back();
            note_row_error("answered node " + std::to_string(row_count_ - 1) + " without node_id or state");
            return;
        }
        current_->is_head = is_head_.value_or(current_->resources.contains(internal_head_resource));
    }

    void read_field(std::string_view key, const util::json_scalar& scalar)
    {
        const auto text = scalar.is_string() ? scalar.text : std::string_view();
        if (key == "node_id") {
            id_seen_ = scalar.is_string();
            current_->node_id.assign(text);
        } else if (key == "state") {
            state_seen_ = scalar.is_string();
            current_->state.assign(text);
        } else if (key == "node_ip") {
            current_->ip.assign(text);
        } else if (key == "node_name") {
            current_->name.assign(text);
        } else if (key == "state_message") {
            current_->state_message = scalar.is_string() ? std::optional<std::string>(scalar.text) : std::nullopt;
        } else if (key == "is_head_node") {
            is_head_ = scalar.is_bool() ? std::optional<bool>(scalar.boolean) : std::nullopt;
        } else if (key == "start_time_ms") {
            current_->start_time_ms = scalar.integer();
        } else if (key == "end_time_ms") {
            current_->end_time_ms = scalar.integer();
        }
    }

    void note_row_error(std::string what)
    {
        if (row_error_.empty()) row_error_ = std::move(what);
    }

    std::size_t body_size_ = 0;
    bool has_list_ = false;
    bool has_rows_ = false;
    std::size_t row_count_ = 0;
    std::string row_error_;  // the first row that cannot be read
    std::vector<ray_node> nodes_;
    ray_node* current_ = nullptr;  // the last of nodes_, while its row is read
    bool id_seen_ = false;
    bool state_seen_ = false;
    std::optional<bool> is_head_;
};

// GET /api/cluster_status (format=0): data.clusterStatus.loadMetricsReport's usage and usageByNode,
// the second largest answer (about 130 bytes per node).
class cluster_status_reader final : public envelope_reader {
public:
    cluster_status_reader() : envelope_reader(ray_paths::cluster_status) {}

    parse_result<ray_cluster_status> finish(std::string_view body)
    {
        using result = parse_result<ray_cluster_status>;
        if (auto error = read_events(body, *this, endpoint_); !error.empty()) return result::failure(std::move(error));
        if (auto error = envelope_error(); !error.empty()) return result::failure(std::move(error));
        if (cluster_status_is_not_an_object_)
            return result::failure(
                endpoint_error(endpoint_, "answered a clusterStatus that is not an object (format=1?)"));
        if (by_node_count_ > max_ray_nodes)
            return result::failure(endpoint_error(endpoint_, "answered usage for more nodes than the bound"));
        return {std::move(status_), {}};
    }

private:
    enum role : int { cluster = last_envelope_role + 1, load, usage, by_node, node_usage, usage_pair };

    int inner_container(const util::json_place& place, bool is_object) override
    {
        switch (place.parent_role) {
        case data_role:
            if (place.key != "clusterStatus") return skip;
            cluster_status_is_not_an_object_ = !is_object;
            return is_object ? cluster : skip;
        case cluster:
            if (place.key != "loadMetricsReport" || !is_object) return skip;
            status_.has_load_metrics = true;
            return load;
        case load:
            if (!is_object) return skip;
            if (place.key == "usage") return usage;
            if (place.key == "usageByNode") return by_node;
            return skip;
        case by_node:
            // An entry that is not an object is a node with no usage known.
            if (++by_node_count_ > max_ray_nodes) return skip;
            status_.usage_by_node.push_back({std::string(place.key), {}});
            if (!is_object) return skip;
            status_.usage_by_node.back().usage.reserve(4);  // CPU, memory, objectStoreMemory, node:IP
            return node_usage;
        case usage:
        case node_usage:
            if (is_object) return skip;
            pair_target_ = place.parent_role == usage ? &status_.usage : &status_.usage_by_node.back().usage;
            pair_name_ = place.key;
            pair_ = {};
            return usage_pair;
        default: return skip;
        }
    }

    void inner_value(const util::json_place& place, const util::json_scalar& scalar) override
    {
        switch (place.parent_role) {
        case data_role:
            if (place.key == "autoscalingError")
                status_.autoscaling_error = scalar.is_string() ? std::optional<std::string>(scalar.text) : std::nullopt;
            else if (place.key == "clusterStatus")
                cluster_status_is_not_an_object_ = !scalar.is_null();
            break;
        case cluster:
            if (place.key == "time") status_.report_time = scalar.number();
            break;
        case by_node:
            if (++by_node_count_ <= max_ray_nodes) status_.usage_by_node.push_back({std::string(place.key), {}});
            break;
        case usage_pair:
            if (place.index < pair_.size()) pair_[place.index] = scalar.number();
            break;
        default: break;
        }
    }

    void end(int ended, std::size_t size) override
    {
        // [used, total]: anything else is not a usage.
        if (ended == usage_pair && size == 2 && pair_[0] && pair_[1])
            pair_target_->emplace(std::move(pair_name_), resource_usage{*pair_[0], *pair_[1]});
    }

    ray_cluster_status status_;
    bool cluster_status_is_not_an_object_ = false;
    std::size_t by_node_count_ = 0;
    resource_usages* pair_target_ = nullptr;
    std::string pair_name_;
    std::array<std::optional<double>, 2> pair_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Parsers

ray_serve_status serve_not_installed()
{
    ray_serve_status status;
    status.installed = false;
    return status;
}

std::string ray_camel_case(std::string_view snake)
{
    std::string camel;
    camel.reserve(snake.size());
    std::size_t start = 0;
    bool first = true;
    while (true) {
        const auto end = snake.find('_', start);
        const auto part = snake.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (first) {
            camel += part;
            first = false;
        } else {
            // Python's str.title(): a letter after a non-letter is upper case, other letters lower.
            bool after_letter = false;
            for (const char c : part) {
                const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
                if (letter) {
                    const char lower = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
                    camel += after_letter ? lower : static_cast<char>(lower - 'a' + 'A');
                } else {
                    camel += c;
                }
                after_letter = letter;
            }
        }
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return camel;
}

parse_result<ray_version_info> parse_version(std::string_view body)
{
    json::monotonic_resource arena;
    std::string error;
    const auto document = parse_json(body, arena, ray_paths::version, error);
    if (!document) return parse_result<ray_version_info>::failure(error);
    const auto* top = document->if_object();
    if (!top) return parse_result<ray_version_info>::failure(endpoint_error(ray_paths::version, "answered no object"));
    ray_version_info info;
    info.ray_version = string_or_empty(*top, "ray_version");
    info.jobs_api_version = string_or_empty(*top, "version");
    info.ray_commit = string_or_empty(*top, "ray_commit");
    info.session_name = string_or_empty(*top, "session_name");
    if (info.ray_version.empty())
        return parse_result<ray_version_info>::failure(endpoint_error(ray_paths::version, "answered no ray_version"));
    return {std::move(info), {}};
}

parse_result<ray_cluster_status> parse_cluster_status(std::string_view body)
{
    cluster_status_reader reader;
    return reader.finish(body);
}

parse_result<std::vector<ray_node>> parse_nodes(std::string_view body)
{
    // The largest answer of a poll (about 400 bytes per node): read as a stream, without a DOM.
    nodes_reader reader;
    return reader.finish(body);
}

parse_result<std::vector<ray_job>> parse_jobs(std::string_view body)
{
    using result = parse_result<std::vector<ray_job>>;
    constexpr auto endpoint = ray_paths::jobs;
    json::monotonic_resource arena;
    std::string error;
    const auto document = parse_json(body, arena, endpoint, error);
    if (!document) return result::failure(error);
    const auto* rows = document->if_array();
    if (!rows)
        return result::failure(endpoint_error(endpoint, "answered " + std::string(json::to_string(document->kind())) +
                                                            ", not the list of jobs (Jobs API v2, Ray 2.0+)"));
    if (rows->size() > max_ray_jobs)
        return result::failure(endpoint_error(endpoint, "answered more jobs than the bound of " + std::to_string(max_ray_jobs)));

    std::vector<ray_job> jobs;
    jobs.reserve(rows->size());
    for (std::size_t i = 0; i < rows->size(); ++i) {
        const auto* row = (*rows)[i].if_object();
        if (!row) return result::failure(endpoint_error(endpoint, "answered a job " + std::to_string(i) + " that is not an object"));
        auto job = job_of(*row);
        if (!job)
            return result::failure(endpoint_error(endpoint, "answered job " + std::to_string(i) +
                                                                " without status or any id"));
        jobs.push_back(std::move(*job));
    }
    sort_unique(jobs, job_key);
    return {std::move(jobs), {}};
}

parse_result<ray_serve_status> parse_serve_applications(std::string_view body)
{
    using result = parse_result<ray_serve_status>;
    constexpr auto endpoint = ray_paths::serve_applications;
    json::monotonic_resource arena;
    std::string error;
    const auto document = parse_json(body, arena, endpoint, error);
    if (!document) return result::failure(error);
    const auto* top = document->if_object();
    if (!top) return result::failure(endpoint_error(endpoint, "answered " + std::string(json::to_string(document->kind())) +
                                                                  ", not the Serve instance details object"));
    ray_serve_status serve;
    const auto* controller = object_member(*top, "controller_info");
    serve.proxy_location = string_or_empty(*top, "proxy_location");
    if (const auto* http_options = object_member(*top, "http_options"))
        serve.http_port = integer_member(*http_options, "port");

    const auto* apps = member(*top, "applications");
    if (apps && !apps->is_null() && !apps->is_object())
        return result::failure(endpoint_error(endpoint, "answered applications that are not a map of name to details"));
    if (apps && apps->is_object()) {
        const auto& by_name = apps->get_object();
        if (by_name.size() > max_serve_applications)
            return result::failure(endpoint_error(endpoint, "answered more applications than the bound of " +
                                                                std::to_string(max_serve_applications)));
        for (const auto& entry : by_name) {
            const auto* details = entry.value().if_object();
            if (!details)
                return result::failure(endpoint_error(endpoint, "answered application '" + std::string(entry.key()) +
                                                                    "' that is not an object"));
            serve_application app;
            app.name = string_member(*details, "name").value_or(std::string(entry.key()));
            auto status = string_member(*details, "status");
            if (!status || app.name.empty())
                return result::failure(endpoint_error(endpoint, "answered application '" + std::string(entry.key()) +
                                                                    "' without a status"));
            app.status = std::move(*status);
            app.message = string_or_empty(*details, "message");
            app.route_prefix = string_member(*details, "route_prefix");
            app.last_deployed_time_s = number_member(*details, "last_deployed_time_s");
            if (const auto* config = member(*details, "deployed_app_config"); config && config->is_object())
                app.deployed_app_config = owned(*config);
            if (const auto* deployments = object_member(*details, "deployments")) {
                if (deployments->size() > max_serve_deployments)
                    return result::failure(endpoint_error(endpoint, "answered more deployments than the bound"));
                for (const auto& d : *deployments) {
                    const auto* fields = d.value().if_object();
                    if (!fields) continue;
                    serve_deployment deployment;
                    deployment.name = string_member(*fields, "name").value_or(std::string(d.key()));
                    deployment.status = string_or_empty(*fields, "status");
                    deployment.message = string_or_empty(*fields, "message");
                    deployment.target_num_replicas = integer_member(*fields, "target_num_replicas");
                    if (!deployment.target_num_replicas)
                        if (const auto* config = object_member(*fields, "deployment_config"))
                            deployment.target_num_replicas = integer_member(*config, "num_replicas");
                    if (const auto* replicas = array_member(*fields, "replicas")) {
                        deployment.replicas = static_cast<std::int64_t>(replicas->size());
                        for (const auto& replica : *replicas)
                            if (const auto* r = replica.if_object(); r && string_or_empty(*r, "state") == "RUNNING")
                                ++deployment.running_replicas;
                    }
                    app.deployments.push_back(std::move(deployment));
                }
                std::sort(app.deployments.begin(), app.deployments.end(),
                          [](const auto& a, const auto& b) { return a.name < b.name; });
            }
            serve.applications.push_back(std::move(app));
        }
    }
    serve.running = (controller && !controller->empty()) || !serve.applications.empty();
    if (!serve.running) serve.http_port.reset();
    sort_unique(serve.applications, app_key);
    return {std::move(serve), {}};
}

// ---------------------------------------------------------------------------------------------
// The snapshot

std::string_view to_string(ray_part part)
{
    switch (part) {
    case ray_part::version: return "version";
    case ray_part::cluster_status: return "cluster_status";
    case ray_part::nodes: return "nodes";
    case ray_part::jobs: return "jobs";
    case ray_part::serve: return "serve";
    }
    return "unknown";
}

namespace {

constexpr ray_part all_parts[] = {ray_part::version, ray_part::cluster_status, ray_part::nodes, ray_part::jobs,
                                  ray_part::serve};

std::optional<ray_part> part_from_string(std::string_view text)
{
    for (const auto part : all_parts)
        if (to_string(part) == text) return part;
    return std::nullopt;
}

bool present(const ray_snapshot& snapshot, ray_part part)
{
    switch (part) {
    case ray_part::version: return snapshot.version.has_value();
    case ray_part::cluster_status: return snapshot.cluster_status.has_value();
    case ray_part::nodes: return snapshot.nodes.has_value();
    case ray_part::jobs: return snapshot.jobs.has_value();
    case ray_part::serve: return snapshot.serve.has_value();
    }
    return false;
}

// Maps the legacy envelope's camelCase resource names back to the names the nodes use.
class resource_names {
public:
    explicit resource_names(const std::optional<std::vector<ray_node>>& nodes)
    {
        // Only names with '_' change; most repeat on every node, so convert each distinct one once.
        std::set<std::string_view> distinct{"object_store_memory", "node:__internal_head__"};
        if (nodes)
            for (const auto& node : *nodes)
                for (const auto& [name, value] : node.resources)
                    if (name.find('_') != std::string::npos) distinct.insert(name);
        for (const auto name : distinct) originals_.emplace(ray_camel_case(name), std::string(name));
    }

    const std::string& original(const std::string& camel) const
    {
        const auto found = originals_.find(camel);
        return found == originals_.end() ? camel : found->second;
    }

    resource_usages originals(resource_usages usage) const
    {
        resource_usages mapped;
        mapped.reserve(usage.size());
        for (auto& [name, value] : usage) mapped[original(name)] = value;
        return mapped;
    }

private:
    // A handful of names, looked up once per resource of every node: a sorted vector.
    boost::container::flat_map<std::string, std::string, std::less<>> originals_;
};

}  // namespace

bool ray_node::usage_known() const
{
    return std::any_of(resources.begin(), resources.end(), [](const auto& entry) { return entry.second.used.has_value(); });
}

bool ray_snapshot::has(ray_part part) const
{
    return present(*this, part) && std::find(stale.begin(), stale.end(), part) == stale.end();
}

bool ray_snapshot::any_part() const
{
    return std::any_of(std::begin(all_parts), std::end(all_parts), [this](ray_part part) { return has(part); });
}

ray_snapshot assemble_snapshot(std::chrono::system_clock::time_point observed_at,
                               parse_result<ray_version_info> version,
                               parse_result<ray_cluster_status> cluster_status,
                               parse_result<std::vector<ray_node>> nodes, parse_result<std::vector<ray_job>> jobs,
                               parse_result<ray_serve_status> serve)
{
    ray_snapshot snapshot;
    snapshot.observed_at = observed_at;
    const auto take = [&snapshot](auto& result, auto& slot, ray_part part) {
        if (result.value) slot = std::move(result.value);
        else snapshot.errors.push_back({part, result.error.empty() ? "no answer" : std::move(result.error)});
    };
    take(version, snapshot.version, ray_part::version);
    take(cluster_status, snapshot.cluster_status, ray_part::cluster_status);
    take(nodes, snapshot.nodes, ray_part::nodes);
    take(jobs, snapshot.jobs, ray_part::jobs);
    take(serve, snapshot.serve, ray_part::serve);
    // The parse_* functions sort their lists; checking them again would touch every node's id.
    if (snapshot.cluster_status) {
        const resource_names names(snapshot.nodes);
        auto& status = *snapshot.cluster_status;
        status.usage = names.originals(std::move(status.usage));
        if (snapshot.nodes) {
            // usageByNode comes in the GCS's order. A binary search over 10,000 nodes of a few
            // hundred bytes each misses the cache at nearly every step, and sorting first moves
            // them all: one hash table of ids, built in one allocation, costs far less than either.
            boost::unordered_flat_map<std::string_view, ray_node*, std::hash<std::string_view>> by_id;
            by_id.reserve(snapshot.nodes->size());
            for (auto& node : *snapshot.nodes) by_id.emplace(node.node_id, &node);
            for (const auto& [node_id, usage] : status.usage_by_node) {
                const auto found = by_id.find(std::string_view(node_id));
                if (found == by_id.end()) continue;
                ray_node* node = found->second;
                for (const auto& [name, amounts] : usage) {
                    // A handful of names of mostly different lengths: a scan that compares lengths
                    // first reads no name but the one it finds, where a binary search reads three.
                    const std::string_view original = names.original(name);
                    const auto resource = std::find_if(node->resources.begin(), node->resources.end(),
                                                       [original](const auto& entry) { return entry.first == original; });
                    if (resource != node->resources.end()) resource->second.used = amounts.used;
                }
            }
            status.usage_by_node.clear();
        } else {
            for (auto& [node_id, usage] : status.usage_by_node) usage = names.originals(std::move(usage));
        }
    }
    return snapshot;
}

ray_snapshot carry_forward(const ray_snapshot& previous, ray_snapshot current)
{
    const auto fill = [&current](const auto& earlier, auto& slot, ray_part part) {
        if (slot || !earlier) return;
        slot = earlier;
        current.stale.push_back(part);
    };
    fill(previous.version, current.version, ray_part::version);
    fill(previous.cluster_status, current.cluster_status, ray_part::cluster_status);
    fill(previous.nodes, current.nodes, ray_part::nodes);
    fill(previous.jobs, current.jobs, ray_part::jobs);
    fill(previous.serve, current.serve, ray_part::serve);
    return current;
}

resource_usages cluster_resources(const ray_snapshot& snapshot)
{
    // For its first seconds a head answers a loadMetricsReport whose usage is {}, while /nodes
    // already lists it alive with its totals: an empty report is "not reported yet", not "no
    // capacity" (a live node always has at least CPU and its node:IP resource).
    const bool reported = snapshot.cluster_status && snapshot.cluster_status->has_load_metrics &&
                          !snapshot.cluster_status->usage.empty();
    if (reported) return snapshot.cluster_status->usage;
    resource_usages summed;
    if (!snapshot.nodes) return summed;
    for (const auto& node : *snapshot.nodes) {
        if (!node.alive()) continue;
        for (const auto& [name, resource] : node.resources) {
            auto& usage = summed[name];
            usage.total += resource.total;
            usage.used += resource.used.value_or(0);
        }
    }
    return summed;
}

// ---------------------------------------------------------------------------------------------
// Diff

namespace {

json::value optional_string(const std::optional<std::string>& text)
{
    return text ? json::value(*text) : json::value(nullptr);
}

json::value optional_integer(const std::optional<std::int64_t>& number)
{
    return number ? json::value(*number) : json::value(nullptr);
}

json::object node_identity(const ray_node& node)
{
    return json::object{{"node_id", node.node_id}, {"node_name", node.name}, {"node_ip", node.ip},
                        {"is_head", node.is_head}};
}

// Walks two lists sorted by the same key and calls visit(before_or_null, after_or_null) per key.
template <class T, class Key, class Visit>
void merge_walk(const std::vector<T>& before, const std::vector<T>& after, Key key, Visit visit)
{
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < before.size() || j < after.size()) {
        // One three-way comparison per step: the keys of 10,000 nodes are cold in the cache.
        const int order = i == before.size() ? 1 : j == after.size() ? -1 : key(before[i]).compare(key(after[j]));
        if (order < 0) visit(&before[i++], nullptr);
        else if (order > 0) visit(nullptr, &after[j++]);
        else visit(&before[i++], &after[j++]);
    }
}

void diff_nodes(const std::vector<ray_node>& before, const std::vector<ray_node>& after, std::vector<ray_change>& out)
{
    merge_walk(before, after, node_key, [&out](const ray_node* old, const ray_node* now) {
        const bool was_alive = old && old->alive();
        const bool is_alive = now && now->alive();
        if (is_alive && !was_alive) {
            auto data = node_identity(*now);
            data["old_state"] = old ? json::value(old->state) : json::value(nullptr);
            out.push_back({"cluster.node_alive", std::move(data)});
        } else if (was_alive && !is_alive) {
            auto data = node_identity(now ? *now : *old);
            data["old_state"] = old->state;
            data["new_state"] = now ? now->state : std::string("GONE");
            data["state_message"] = now ? optional_string(now->state_message) : json::value(nullptr);
            out.push_back({"cluster.node_dead", std::move(data)});
        }
    });
}

void diff_jobs(const std::vector<ray_job>& before, const std::vector<ray_job>& after, std::vector<ray_change>& out)
{
    merge_walk(before, after, job_key, [&out](const ray_job* old, const ray_job* now) {
        if (!now || (old && old->status == now->status)) return;
        out.push_back({"cluster.job_status",
                       json::object{{"submission_id", optional_string(now->submission_id)},
                                    {"job_id", optional_string(now->job_id)},
                                    {"type", now->type},
                                    {"entrypoint", now->entrypoint},
                                    {"old_status", old ? json::value(old->status) : json::value(nullptr)},
                                    {"new_status", now->status},
                                    {"message", optional_string(now->message)},
                                    {"error_type", optional_string(now->error_type)},
                                    {"driver_exit_code", optional_integer(now->driver_exit_code)}}});
    });
}

void diff_serve(const std::vector<serve_application>& before, const std::vector<serve_application>& after,
                std::vector<ray_change>& out)
{
    merge_walk(before, after, app_key, [&out](const serve_application* old, const serve_application* now) {
        if (old && now && old->status == now->status) return;
        const auto& app = now ? *now : *old;
        out.push_back({"cluster.serve_app_status",
                       json::object{{"name", app.name},
                                    {"old_status", old ? json::value(old->status) : json::value(nullptr)},
                                    {"new_status", now ? now->status : std::string("DELETED")},
                                    {"message", now ? now->message : std::string()},
                                    {"route_prefix", optional_string(app.route_prefix)}}});
    });
}

}  // namespace

std::vector<ray_change> diff(const ray_snapshot* before, const ray_snapshot& after)
{
    std::vector<ray_change> changes;
    if (!before) return changes;
    const auto comparable = [&](ray_part part) { return present(*before, part); };
    if (comparable(ray_part::nodes) && after.has(ray_part::nodes)) diff_nodes(*before->nodes, *after.nodes, changes);
    if (comparable(ray_part::jobs) && after.has(ray_part::jobs)) diff_jobs(*before->jobs, *after.jobs, changes);
    // Serve not installed lists nothing; comparing it would report every app as deleted, so only
    // compare two answers that both come from an installed Serve (or one that was shut down).
    if (comparable(ray_part::serve) && after.has(ray_part::serve) && before->serve->installed && after.serve->installed)
        diff_serve(before->serve->applications, after.serve->applications, changes);
    return changes;
}

// ---------------------------------------------------------------------------------------------
// Persistence

namespace {

// A node's resources as two objects, resources_total and resources_used (only those known).
std::pair<json::object, json::object> totals_and_used_json(const node_resources& resources)
{
    std::pair<json::object, json::object> objects;
    for (const auto& [name, resource] : resources) {
        objects.first[name] = resource.total;
        if (resource.used) objects.second[name] = *resource.used;
    }
    return objects;
}

json::object usage_json(const resource_usages& usage)
{
    json::object object;
    for (const auto& [name, value] : usage) object[name] = json::array{value.used, value.total};
    return object;
}

json::value to_json(const ray_version_info& info)
{
    return json::object{{"ray_version", info.ray_version},
                        {"jobs_api_version", info.jobs_api_version},
                        {"ray_commit", info.ray_commit},
                        {"session_name", info.session_name}};
}

json::value to_json(const ray_cluster_status& status)
{
    json::object by_node;
    for (const auto& [node_id, usage] : status.usage_by_node) by_node[node_id] = usage_json(usage);
    return json::object{{"has_load_metrics", status.has_load_metrics},
                        {"usage", usage_json(status.usage)},
                        {"usage_by_node", std::move(by_node)},
                        {"report_time", status.report_time ? json::value(*status.report_time) : json::value(nullptr)},
                        {"autoscaling_error", optional_string(status.autoscaling_error)}};
}

json::value to_json(const ray_node& node)
{
    auto [totals, used] = totals_and_used_json(node.resources);
    return json::object{{"node_id", node.node_id},
                        {"ip", node.ip},
                        {"name", node.name},
                        {"is_head", node.is_head},
                        {"state", node.state},
                        {"state_message", optional_string(node.state_message)},
                        {"resources_total", std::move(totals)},
                        {"resources_used", std::move(used)},
                        {"start_time_ms", optional_integer(node.start_time_ms)},
                        {"end_time_ms", optional_integer(node.end_time_ms)}};
}

json::value to_json(const ray_job& job)
{
    return json::object{{"type", job.type},
                        {"submission_id", optional_string(job.submission_id)},
                        {"job_id", optional_string(job.job_id)},
                        {"status", job.status},
                        {"entrypoint", job.entrypoint},
                        {"message", optional_string(job.message)},
                        {"error_type", optional_string(job.error_type)},
                        {"start_time", optional_integer(job.start_time)},
                        {"end_time", optional_integer(job.end_time)},
                        {"metadata", job.metadata},
                        {"runtime_env", job.runtime_env},
                        {"driver_exit_code", optional_integer(job.driver_exit_code)}};
}

json::value to_json(const serve_application& app)
{
    json::array deployments;
    for (const auto& d : app.deployments)
        deployments.push_back(json::object{{"name", d.name},
                                           {"status", d.status},
                                           {"message", d.message},
                                           {"target_num_replicas", optional_integer(d.target_num_replicas)},
                                           {"replicas", d.replicas},
                                           {"running_replicas", d.running_replicas}});
    return json::object{{"name", app.name},
                        {"status", app.status},
                        {"message", app.message},
                        {"route_prefix", optional_string(app.route_prefix)},
                        {"last_deployed_time_s",
                         app.last_deployed_time_s ? json::value(*app.last_deployed_time_s) : json::value(nullptr)},
                        {"deployed_app_config", app.deployed_app_config},
                        {"deployments", std::move(deployments)}};
}

json::value to_json(const ray_serve_status& serve)
{
    json::array apps;
    for (const auto& app : serve.applications) apps.push_back(to_json(app));
    return json::object{{"installed", serve.installed},
                        {"running", serve.running},
                        {"http_port", optional_integer(serve.http_port)},
                        {"proxy_location", serve.proxy_location},
                        {"applications", std::move(apps)}};
}

template <class T>
json::value optional_json(const std::optional<T>& part)
{
    return part ? to_json(*part) : json::value(nullptr);
}

template <class T>
json::value optional_json(const std::optional<std::vector<T>>& part)
{
    if (!part) return nullptr;
    json::array items;
    items.reserve(part->size());
    for (const auto& item : *part) items.push_back(to_json(item));
    return items;
}

// Reading back: nullopt for anything that is not what to_json wrote.

std::optional<ray_version_info> version_from(const json::object& o)
{
    return ray_version_info{string_or_empty(o, "ray_version"), string_or_empty(o, "jobs_api_version"),
                            string_or_empty(o, "ray_commit"), string_or_empty(o, "session_name")};
}

std::optional<ray_cluster_status> cluster_status_from(const json::object& o)
{
    ray_cluster_status status;
    status.has_load_metrics = bool_member(o, "has_load_metrics").value_or(false);
    status.usage = usage_map(object_member(o, "usage"));
    if (const auto* by_node = object_member(o, "usage_by_node")) status.usage_by_node = usage_by_node_list(*by_node);
    status.report_time = number_member(o, "report_time");
    status.autoscaling_error = string_member(o, "autoscaling_error");
    return status;
}

std::optional<ray_node> node_from(const json::object& o)
{
    ray_node node;
    auto id = string_member(o, "node_id");
    auto state = string_member(o, "state");
    if (!id || !state) return std::nullopt;
    node.node_id = std::move(*id);
    node.state = std::move(*state);
    node.ip = string_or_empty(o, "ip");
    node.name = string_or_empty(o, "name");
    node.is_head = bool_member(o, "is_head").value_or(false);
    node.state_message = string_member(o, "state_message");
    node.resources = node_resources_from(object_member(o, "resources_total"), object_member(o, "resources_used"));
    node.start_time_ms = integer_member(o, "start_time_ms");
    node.end_time_ms = integer_member(o, "end_time_ms");
    return node;
}

std::optional<serve_application> application_from(const json::object& o)
{
    serve_application app;
    auto name = string_member(o, "name");
    auto status = string_member(o, "status");
    if (!name || !status) return std::nullopt;
    app.name = std::move(*name);
    app.status = std::move(*status);
    app.message = string_or_empty(o, "message");
    app.route_prefix = string_member(o, "route_prefix");
    app.last_deployed_time_s = number_member(o, "last_deployed_time_s");
    if (const auto* config = member(o, "deployed_app_config")) app.deployed_app_config = *config;
    if (const auto* deployments = array_member(o, "deployments"))
        for (const auto& item : *deployments) {
            const auto* d = item.if_object();
            if (!d) return std::nullopt;
            serve_deployment deployment;
            deployment.name = string_or_empty(*d, "name");
            deployment.status = string_or_empty(*d, "status");
            deployment.message = string_or_empty(*d, "message");
            deployment.target_num_replicas = integer_member(*d, "target_num_replicas");
            deployment.replicas = integer_member(*d, "replicas").value_or(0);
            deployment.running_replicas = integer_member(*d, "running_replicas").value_or(0);
            app.deployments.push_back(std::move(deployment));
        }
    return app;
}

std::optional<ray_serve_status> serve_from(const json::object& o)
{
    ray_serve_status serve;
    serve.installed = bool_member(o, "installed").value_or(true);
    serve.running = bool_member(o, "running").value_or(false);
    serve.http_port = integer_member(o, "http_port");
    serve.proxy_location = string_or_empty(o, "proxy_location");
    if (const auto* apps = array_member(o, "applications"))
        for (const auto& item : *apps) {
            const auto* fields = item.if_object();
            auto app = fields ? application_from(*fields) : std::nullopt;
            if (!app) return std::nullopt;
            serve.applications.push_back(std::move(*app));
        }
    return serve;
}

// Reads one part: absent or null is "not observed"; anything else must read back.
template <class T, class Read>
bool read_part(const json::object& document, std::string_view key, std::optional<T>& slot, Read read)
{
    const auto* value = member(document, key);
    if (!value || value->is_null()) return true;
    const auto* object = value->if_object();
    if (!object) return false;
    slot = read(*object);
    return slot.has_value();
}

template <class T, class Read>
bool read_list(const json::object& document, std::string_view key, std::optional<std::vector<T>>& slot, Read read)
{
    const auto* value = member(document, key);
    if (!value || value->is_null()) return true;
    const auto* items = value->if_array();
    if (!items) return false;
    std::vector<T> parsed;
    parsed.reserve(items->size());
    for (const auto& item : *items) {
        const auto* object = item.if_object();
        auto one = object ? read(*object) : std::nullopt;
        if (!one) return false;
        parsed.push_back(std::move(*one));
    }
    slot = std::move(parsed);
    return true;
}

}  // namespace

json::value to_json(const ray_snapshot& snapshot)
{
    json::array errors;
    for (const auto& error : snapshot.errors)
        errors.push_back(json::object{{"part", to_string(error.part)}, {"message", error.message}});
    json::array stale;
    for (const auto part : snapshot.stale) stale.push_back(json::string(to_string(part)));
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(snapshot.observed_at.time_since_epoch()).count();
    return json::object{{"observed_at", format_timestamp(snapshot.observed_at)},
                        {"observed_at_ms", millis},
                        {"version", optional_json(snapshot.version)},
                        {"cluster_status", optional_json(snapshot.cluster_status)},
                        {"nodes", optional_json(snapshot.nodes)},
                        {"jobs", optional_json(snapshot.jobs)},
                        {"serve", optional_json(snapshot.serve)},
                        {"errors", std::move(errors)},
                        {"stale", std::move(stale)}};
}

namespace {

// The instant `epoch_ms` after the epoch, if the system clock can hold it: up to the year 2262 with
// its nanosecond ticks (converting a later one would overflow). Anything else is not a time Ray or
// this service meant.
std::optional<clock::time_point> time_from_epoch_ms(std::int64_t epoch_ms)
{
    constexpr std::int64_t latest = std::chrono::duration_cast<std::chrono::milliseconds>(clock::duration::max()).count();
    if (epoch_ms < 0 || epoch_ms > latest) return std::nullopt;
    return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::milliseconds(epoch_ms)));
}

}  // namespace

std::optional<ray_snapshot> snapshot_from_json(const json::value& document)
{
    const auto* top = document.if_object();
    if (!top) return std::nullopt;
    const auto millis = integer_member(*top, "observed_at_ms");
    const auto observed_at = millis ? time_from_epoch_ms(*millis) : std::nullopt;
    if (!observed_at) return std::nullopt;
    ray_snapshot snapshot;
    snapshot.observed_at = *observed_at;
    if (!read_part(*top, "version", snapshot.version, version_from) ||
        !read_part(*top, "cluster_status", snapshot.cluster_status, cluster_status_from) ||
        !read_list(*top, "nodes", snapshot.nodes, node_from) || !read_list(*top, "jobs", snapshot.jobs, job_of) ||
        !read_part(*top, "serve", snapshot.serve, serve_from))
        return std::nullopt;
    if (const auto* errors = array_member(*top, "errors"))
        for (const auto& item : *errors) {
            const auto* error = item.if_object();
            const auto part = error ? part_from_string(string_or_empty(*error, "part")) : std::nullopt;
            if (!part) return std::nullopt;
            snapshot.errors.push_back({*part, string_or_empty(*error, "message")});
        }
    if (const auto* stale = array_member(*top, "stale"))
        for (const auto& item : *stale) {
            const auto part = item.is_string() ? part_from_string(item.get_string()) : std::nullopt;
            if (!part) return std::nullopt;
            snapshot.stale.push_back(*part);
        }
    normalise(snapshot);
    return snapshot;
}

// ---------------------------------------------------------------------------------------------
// Views

namespace {

constexpr double bytes_per_gib = 1024.0 * 1024.0 * 1024.0;

// Integral values as JSON integers ("CPU": 8, not 8.0E0), the rest as doubles.
json::value json_number(double value)
{
    if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.0e15)
        return static_cast<std::int64_t>(value);
    return value;
}

double round_to(double value, int decimals)
{
    const double scale = std::pow(10.0, decimals);
    return std::round(value * scale) / scale;
}

bool is_node_marker(const std::string& resource) { return resource.starts_with("node:"); }

// The view's resources and resources_used objects, without the node marker resources.
std::pair<json::object, json::object> resources_json(const node_resources& resources)
{
    std::pair<json::object, json::object> objects;
    for (const auto& [name, resource] : resources) {
        if (is_node_marker(name)) continue;
        objects.first[name] = json_number(resource.total);
        if (resource.used) objects.second[name] = json_number(*resource.used);
    }
    return objects;
}

json::value iso_or_null(std::optional<std::int64_t> epoch_ms)
{
    if (!epoch_ms) return nullptr;
    auto text = iso_from_epoch_ms(*epoch_ms);
    return text.empty() ? json::value(nullptr) : json::value(text);
}

std::int64_t replicas_target(const serve_application& app)
{
    std::int64_t total = 0;
    for (const auto& d : app.deployments) total += d.target_num_replicas.value_or(d.replicas);
    return total;
}

}  // namespace

std::string iso_from_epoch_ms(std::int64_t epoch_ms)
{
    const auto when = time_from_epoch_ms(epoch_ms);
    return when ? format_timestamp(*when) : std::string{};
}

node_count count_nodes(const ray_snapshot& snapshot)
{
    node_count count;
    if (!snapshot.nodes) return count;
    count.total = static_cast<std::int64_t>(snapshot.nodes->size());
    for (const auto& node : *snapshot.nodes) count.alive += node.alive() ? 1 : 0;
    return count;
}

json::object nodes_view(const ray_snapshot& snapshot, const node_applications& applications)
{
    std::vector<const ray_node*> ordered;
    if (snapshot.nodes)
        for (const auto& node : *snapshot.nodes) ordered.push_back(&node);
    std::sort(ordered.begin(), ordered.end(), [](const ray_node* a, const ray_node* b) {
        // References, not copies: a 10,000-node view compares about 130,000 times.
        return std::forward_as_tuple(!a->is_head, a->name, a->node_id) <
               std::forward_as_tuple(!b->is_head, b->name, b->node_id);
    });
    json::array nodes;
    nodes.reserve(ordered.size());
    std::int64_t alive = 0;
    for (const auto* node : ordered) {
        alive += node->alive() ? 1 : 0;
        auto [resources, used] = resources_json(node->resources);
        const auto application = applications.empty() ? applications.end() : applications.find(node->name);
        const bool is_application = application != applications.end();
        nodes.push_back(json::object{{"node_id", node->node_id},
                                     {"node_name", node->name},
                                     {"node_ip", node->ip},
                                     {"node_type", node->is_head ? "head" : "worker"},
                                     {"cml_app_id", is_application ? json::value(application->second.app_id) : nullptr},
                                     {"cml_app_name", is_application ? json::value(application->second.app_name) : nullptr},
                                     {"alive", node->alive()},
                                     {"state", node->state},
                                     {"state_message", optional_string(node->state_message)},
                                     {"resources", std::move(resources)},
                                     {"resources_used", std::move(used)}});
    }
    return json::object{{"nodes", std::move(nodes)},
                        {"total_nodes", static_cast<std::int64_t>(ordered.size())},
                        {"alive_nodes", alive}};
}

json::object capacity_view(const ray_snapshot& snapshot)
{
    const auto resources = cluster_resources(snapshot);
    const auto get = [&resources](const char* name) {
        const auto found = resources.find(name);
        return found == resources.end() ? resource_usage{} : found->second;
    };
    const auto available = [](const resource_usage& usage) { return std::max(0.0, usage.total - usage.used); };
    const auto cpu = get("CPU");
    const auto memory = get("memory");
    const auto gpu = get("GPU");
    const double utilization = cpu.total > 0 ? round_to(cpu.used / cpu.total * 100.0, 1) : 0.0;
    return json::object{{"total_cpus", json_number(cpu.total)},
                        {"available_cpus", json_number(available(cpu))},
                        {"total_memory", round_to(memory.total / bytes_per_gib, 2)},
                        {"available_memory", round_to(available(memory) / bytes_per_gib, 2)},
                        {"total_gpus", json_number(gpu.total)},
                        {"available_gpus", json_number(available(gpu))},
                        {"utilization_percent", utilization}};
}

json::object application_view(const serve_application& app)
{
    json::value deployed = nullptr;
    if (app.last_deployed_time_s && *app.last_deployed_time_s >= 0 && *app.last_deployed_time_s < 253402300799.0)
        deployed = iso_or_null(static_cast<std::int64_t>(std::llround(*app.last_deployed_time_s * 1000.0)));
    std::int64_t running = 0;
    for (const auto& d : app.deployments) running += d.running_replicas;
    return json::object{{"name", app.name},
                        {"status", app.status},
                        {"route_prefix", optional_string(app.route_prefix)},
                        {"num_replicas", replicas_target(app)},
                        {"running_replicas", running},
                        {"message", app.message},
                        {"last_deployed_time", std::move(deployed)}};
}

json::object application_detail_view(const serve_application& app)
{
    auto view = application_view(app);
    json::array deployments;
    for (const auto& d : app.deployments)
        deployments.push_back(json::object{{"name", d.name},
                                           {"status", d.status},
                                           {"message", d.message},
                                           {"target_num_replicas", optional_integer(d.target_num_replicas)},
                                           {"replicas", d.replicas},
                                           {"running_replicas", d.running_replicas}});
    view["deployments"] = std::move(deployments);
    view["deployed_app_config"] = redact_env_vars(app.deployed_app_config);
    return view;
}

json::object applications_view(const ray_snapshot& snapshot)
{
    json::array apps;
    if (snapshot.serve)
        for (const auto& app : snapshot.serve->applications) apps.push_back(application_view(app));
    const auto total = static_cast<std::int64_t>(apps.size());
    return json::object{{"applications", std::move(apps)}, {"total_applications", total}};
}

json::object job_view(const ray_job& job, bool redact)
{
    return json::object{{"submission_id", optional_string(job.submission_id)},
                        {"job_id", optional_string(job.job_id)},
                        {"type", job.type},
                        {"status", job.status},
                        {"entrypoint", job.entrypoint},
                        {"message", optional_string(job.message)},
                        {"error_type", optional_string(job.error_type)},
                        {"start_time", iso_or_null(job.start_time)},
                        {"end_time", iso_or_null(job.end_time)},
                        {"driver_exit_code", optional_integer(job.driver_exit_code)},
                        {"metadata", job.metadata},
                        {"runtime_env", redact ? redact_env_vars(job.runtime_env) : job.runtime_env}};
}

json::value redact_env_vars(const json::value& value)
{
    // Bounded by the depth the parser allowed; runtime_env and Serve configs are shallow.
    if (const auto* array = value.if_array()) {
        json::array copy;
        copy.reserve(array->size());
        for (const auto& item : *array) copy.push_back(redact_env_vars(item));
        return copy;
    }
    const auto* object = value.if_object();
    if (!object) return value;
    json::object copy;
    for (const auto& entry : *object) {
        if (entry.key() == "env_vars" && entry.value().is_object()) {
            json::object hidden;
            for (const auto& variable : entry.value().get_object()) hidden[variable.key()] = "<redacted>";
            copy[entry.key()] = std::move(hidden);
        } else {
            copy[entry.key()] = redact_env_vars(entry.value());
        }
    }
    return copy;
}

}  // namespace raydeploy::watch
