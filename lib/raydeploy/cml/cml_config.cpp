// Reading and checking jobs_config.yaml and ray_cluster_config.yaml; see cml_config.hpp.
#include "raydeploy/cml/cml_config.hpp"

#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/yaml_reader.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

namespace raydeploy::cml {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Bounds that catch a unit mistake (memory in MB, a timeout in milliseconds) before CML does.
constexpr double max_cpu = 256;
constexpr double max_memory_gb = 4096;
constexpr std::uint64_t max_workers = 256;
constexpr std::uint64_t max_gpus = 16;
constexpr std::size_t max_name_length = 200;
// CreateJobRequest.timeout is an int32 of seconds.
constexpr std::int64_t max_timeout_s = std::numeric_limits<std::int32_t>::max();

bool is_valid_job_key(std::string_view key)
{
    if (key.empty() || key.size() > 64) return false;
    const auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_alnum(key.front())) return false;
    return std::all_of(key.begin(), key.end(), [&](char c) { return lower_alnum(c) || c == '_' || c == '-'; });
}

bool has_control_character(std::string_view text)
{
    return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A vCPU or GB amount: a plain decimal number (4, 0.5), above zero and at most `max`.
std::optional<double> read_amount(yaml_reader& reader, const YAML::Node& node, const std::string& key, double max)
{
    const std::string range = "a number above 0 and at most " + std::to_string(static_cast<long>(max));
    if (!node.IsScalar()) {
        reader.error(node, key, "expected " + range);
        return std::nullopt;
    }
    const std::string& text = node.Scalar();
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
        reader.error(node, key, "expected " + range + ", got \"" + text + "\"");
        return std::nullopt;
    }
    if (value <= 0 || value > max) {
        reader.error(node, key, "expected " + range + ", got " + text);
        return std::nullopt;
    }
    return value;
}

// A path inside the CML project, as CML takes a job's or an application's script.
std::optional<std::string> read_script(yaml_reader& reader, const YAML::Node& node, const std::string& key)
{
    auto text = reader.string(node, key);
    if (!text) return std::nullopt;
    std::string problem;
    if (text->empty()) problem = "give the script's path, relative to the project's root";
    else if (text->front() == '/') problem = "must be relative to the project's root, not absolute";
    else if (has_control_character(*text) || text->find('\\') != std::string::npos)
        problem = "must be a plain path: no control characters or backslashes";
    else {
        for (const auto& part : fs::path{*text})
            if (part == "..") problem = "must stay inside the project: no '..'";
    }
    if (!problem.empty()) {
        reader.error(node, key, "\"" + *text + "\" " + problem);
        return std::nullopt;
    }
    return text;
}

std::optional<std::chrono::seconds> read_timeout(yaml_reader& reader, const YAML::Node& node, const std::string& key)
{
    const auto value = reader.duration(node, key);
    if (!value) return std::nullopt;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*value);
    if (seconds < std::chrono::seconds{1} || seconds.count() > max_timeout_s || seconds != *value) {
        reader.error(node, key,
                     "must be whole seconds, from 1 to " + std::to_string(max_timeout_s) + " (CML's limit)");
        return std::nullopt;
    }
    return seconds;
}

std::optional<unsigned> read_count(yaml_reader& reader, const YAML::Node& node, const std::string& key,
                                   std::uint64_t max)
{
    if (auto value = reader.unsigned_integer(node, key, 0, max)) return static_cast<unsigned>(*value);
    return std::nullopt;
}

std::string keys_of(const std::vector<job_spec>& jobs)
{
    std::string list;
    for (const auto& job : jobs) list += (list.empty() ? "" : ", ") + job.key;
    return list;
}

// The jobs in chain order: each time, the first job in file order whose parent is already placed.
// Returns the keys of a loop (first key repeated at the end) when the chain has one.
std::vector<std::string> chain_order(std::vector<job_spec>& jobs)
{
    std::vector<job_spec> ordered;
    std::set<std::string, std::less<>> placed;
    std::vector<bool> taken(jobs.size(), false);
    for (bool progress = true; progress;) {
        progress = false;
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            if (taken[i] || (jobs[i].parent_key && !placed.count(*jobs[i].parent_key))) continue;
            taken[i] = true;
            placed.insert(jobs[i].key);
            ordered.push_back(jobs[i]);
            progress = true;
            break;
        }
    }
    if (ordered.size() == jobs.size()) {
        jobs = std::move(ordered);
        return {};
    }
    // Every job left waits on a parent that is left too: following parents from any of them ends
    // in a loop.
    std::map<std::string, std::string, std::less<>> parent_of;
    std::string start;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        if (taken[i]) continue;
        parent_of.emplace(jobs[i].key, *jobs[i].parent_key);
        if (start.empty()) start = jobs[i].key;
    }
    std::vector<std::string> path{start};
    while (true) {
        const std::string next = parent_of.at(path.back());
        const auto seen = std::find(path.begin(), path.end(), next);
        if (seen != path.end()) {
            std::vector<std::string> loop(seen, path.end());
            loop.push_back(next);
            return loop;
        }
        path.push_back(next);
    }
}

std::string sha256_hex(std::string_view data)
{
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error{"OpenSSL could not compute a SHA-256 digest"};
    constexpr std::string_view hex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0x0f];
    }
    return out;
}

std::string shortest_decimal(double value)
{
    std::array<char, 32> text{};
    const auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{}) throw std::runtime_error{"cannot write the number " + std::to_string(value)};
    return std::string(text.data(), end);
}

// The root mapping's one section, or nothing after recording why.
YAML::Node section(yaml_reader& reader, const YAML::Node& root, std::string_view name, std::string_view what)
{
    if (root.IsNull()) {
        reader.error(root, "", "the file is empty; it needs a '" + std::string{name} + "' mapping of " + std::string{what});
        return {};
    }
    if (!reader.check_mapping(root, "", {name}) || !reader.require(root, "", name)) return {};
    const YAML::Node node = root[std::string{name}];
    if (!node.IsMap() || node.size() == 0) {
        reader.error(node, name, "expected a non-empty mapping of " + std::string{what});
        return {};
    }
    return node;
}

}  // namespace

const job_spec* jobs_config::find(std::string_view key) const
{
    for (const auto& job : jobs)
        if (job.key == key) return &job;
    return nullptr;
}

std::string jobs_config::fingerprint(const job_spec& job, std::string_view runtime_identifier) const
{
    json::value parent = nullptr;
    if (job.parent_key) {
        const job_spec* found = find(*job.parent_key);
        if (!found) throw std::invalid_argument{"job '" + job.key + "' is not a job of " + source.string()};
        parent = found->name;
    }
    // A JSON object keeps its members in insertion order, so the text is the same for the same job.
    // Amounts are written as the shortest decimal that reads back as the same number (std::to_chars),
    // not as the JSON library spells a double, which a library upgrade could change.
    const json::object canonical{{"name", job.name},
                                 {"script", job.script},
                                 {"cpu", shortest_decimal(job.cpu)},
                                 {"memory", shortest_decimal(job.memory)},
                                 {"timeout_s", job.timeout.count()},
                                 {"parent", parent},
                                 {"runtime_identifier", runtime_identifier}};
    return sha256_hex(json::serialize(canonical));
}

jobs_config load_jobs_config(const fs::path& file)
{
    yaml_reader reader{file};
    const YAML::Node root = reader.load();
    const YAML::Node list =
        section(reader, root, "jobs", "job keys to {name, script, cpu, memory, timeout, parent_job_key}");
    reader.throw_if_errors();

    std::vector<job_spec> jobs;
    std::map<std::string, YAML::Node, std::less<>> parent_nodes;  // key -> its parent_job_key, for locations
    std::map<std::string, std::string, std::less<>> key_of_name;
    std::set<std::string, std::less<>> seen_keys;
    for (auto it = list.begin(); it != list.end(); ++it) {
        job_spec job;
        job.key = it->first.Scalar();
        const std::string key = join_key("jobs", job.key);
        if (!is_valid_job_key(job.key)) {
            reader.error(it->first, key,
                         "\"" + job.key + "\" is not a valid job key: use lowercase letters, digits, '_' and '-', "
                         "starting with a letter or digit (at most 64 characters)");
            continue;
        }
        if (!seen_keys.insert(job.key).second) {
            reader.error(it->first, key, "defined twice; keep one of them");
            continue;
        }
        const YAML::Node fields = it->second;
        if (!reader.check_mapping(fields, key, {"name", "script", "cpu", "memory", "timeout", "parent_job_key"})) continue;
        bool complete = true;
        for (auto required : {"name", "script", "cpu", "memory", "timeout"})
            complete = reader.require(fields, key, required) && complete;
        if (!complete) continue;

        bool valid = true;
        if (auto name = reader.string(fields["name"], key + ".name")) {
            job.name = *name;
            if (name->empty() || name->size() > max_name_length || has_control_character(*name)) {
                reader.error(fields["name"], key + ".name",
                             "the job's name in CML: 1 to " + std::to_string(max_name_length) +
                                 " characters, no control characters");
                valid = false;
            } else if (auto [other, inserted] = key_of_name.emplace(*name, job.key); !inserted) {
                reader.error(fields["name"], key + ".name",
                             "\"" + *name + "\" is also the name of job " + other->second +
                                 "; raydeploy finds jobs in CML by name, so each needs its own");
                valid = false;
            }
        } else {
            valid = false;
        }
        const auto script = read_script(reader, fields["script"], key + ".script");
        const auto cpu = read_amount(reader, fields["cpu"], key + ".cpu", max_cpu);
        const auto memory = read_amount(reader, fields["memory"], key + ".memory", max_memory_gb);
        const auto timeout = read_timeout(reader, fields["timeout"], key + ".timeout");
        if (const YAML::Node parent = fields["parent_job_key"]; parent && !parent.IsNull()) {
            if (auto text = reader.string(parent, key + ".parent_job_key")) job.parent_key = *text;
            else valid = false;
            parent_nodes.emplace(job.key, parent);
        }
        if (!valid || !script || !cpu || !memory || !timeout) continue;
        job.script = *script;
        job.cpu = *cpu;
        job.memory = *memory;
        job.timeout = *timeout;
        jobs.push_back(std::move(job));
    }
    reader.throw_if_errors();

    std::vector<std::string_view> keys;
    for (const auto& job : jobs) keys.push_back(job.key);
    for (const auto& job : jobs) {
        if (!job.parent_key) continue;
        const YAML::Node& at = parent_nodes.at(job.key);
        const std::string key = "jobs." + job.key + ".parent_job_key";
        if (*job.parent_key == job.key) {
            reader.error(at, key, "a job cannot run after itself; name the job it follows, or null for the first");
        } else if (!std::count(keys.begin(), keys.end(), *job.parent_key)) {
            std::string message = "\"" + *job.parent_key + "\" is not a job of this file";
            if (auto hint = closest_match(*job.parent_key, keys)) message += "; did you mean '" + std::string{*hint} + "'?";
            message += " The jobs are: " + keys_of(jobs);
            reader.error(at, key, message);
        }
    }
    reader.throw_if_errors();

    if (const auto loop = chain_order(jobs); !loop.empty()) {
        std::string text;
        for (const auto& key : loop) text += (text.empty() ? "" : " -> ") + key;
        reader.error(parent_nodes.at(loop.front()), "jobs." + loop.front() + ".parent_job_key",
                     "the parent chain loops: " + text +
                         " (each runs after the next); the first job of a chain has parent_job_key: null");
        reader.throw_if_errors();
    }
    return jobs_config{fs::absolute(file).lexically_normal(), std::move(jobs)};
}

ray_cluster_config load_ray_cluster_config(const fs::path& file)
{
    yaml_reader reader{file};
    const YAML::Node root = reader.load();
    const YAML::Node node = section(reader, root, "ray_cluster",
                                    "num_workers, head_cpu, head_memory, worker_cpu, worker_memory, worker_gpus, "
                                    "head_script and worker_script to their values");
    reader.throw_if_errors();

    const std::vector<std::string_view> keys = {"num_workers", "head_cpu",    "head_memory", "worker_cpu",
                                                "worker_memory", "worker_gpus", "head_script", "worker_script"};
    reader.check_mapping(node, "ray_cluster", keys);
    for (auto key : keys) reader.require(node, "ray_cluster", key);
    reader.throw_if_errors();

    ray_cluster_config config;
    config.source = fs::absolute(file).lexically_normal();
    const auto set = [](auto& target, const auto& value) {
        if (value) target = *value;
    };
    set(config.num_workers, read_count(reader, node["num_workers"], "ray_cluster.num_workers", max_workers));
    set(config.head_cpu, read_amount(reader, node["head_cpu"], "ray_cluster.head_cpu", max_cpu));
    set(config.head_memory, read_amount(reader, node["head_memory"], "ray_cluster.head_memory", max_memory_gb));
    set(config.worker_cpu, read_amount(reader, node["worker_cpu"], "ray_cluster.worker_cpu", max_cpu));
    set(config.worker_memory, read_amount(reader, node["worker_memory"], "ray_cluster.worker_memory", max_memory_gb));
    set(config.worker_gpus, read_count(reader, node["worker_gpus"], "ray_cluster.worker_gpus", max_gpus));
    set(config.head_script, read_script(reader, node["head_script"], "ray_cluster.head_script"));
    set(config.worker_script, read_script(reader, node["worker_script"], "ray_cluster.worker_script"));
    reader.throw_if_errors();
    return config;
}

}  // namespace raydeploy::cml
