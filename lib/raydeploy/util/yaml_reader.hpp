// Strict, typed reading of user-written YAML files (the config file and the checkpoint catalog).
// Every problem is reported as "FILE:LINE:COLUMN: KEY: message", and all problems of a file are
// collected before failing, so a user fixes them in one round.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy {

class yaml_reader {
public:
    explicit yaml_reader(std::filesystem::path file);

    // Parses the file. Throws config_error naming the file when it is missing, unreadable or not
    // valid YAML.
    YAML::Node load() const;

    const std::filesystem::path& file() const { return file_; }
    std::string location(const YAML::Node& node) const;

    // Records a problem; `key` is the dotted path of the offending key ("http.body_limit").
    void error(const YAML::Node& at, std::string_view key, std::string_view message);
    bool has_errors() const { return !errors_.empty(); }
    // Throws config_error with every recorded problem, if there is any.
    void throw_if_errors() const;

    // Checks that `node` is a mapping whose keys are all in `allowed` and appear once each.
    // Returns false (after recording the problem) when `node` is not a mapping.
    bool check_mapping(const YAML::Node& node, std::string_view key,
                       const std::vector<std::string_view>& allowed);
    // Records an error when `parent` lacks `name`.
    bool require(const YAML::Node& parent, std::string_view parent_key, std::string_view name);

    // Typed readers: each returns nullopt and records the problem when the value has the wrong type.
    std::optional<std::string> string(const YAML::Node& node, std::string_view key);
    std::optional<bool> boolean(const YAML::Node& node, std::string_view key);
    std::optional<std::uint64_t> unsigned_integer(const YAML::Node& node, std::string_view key,
                                                  std::uint64_t min, std::uint64_t max);
    std::optional<std::chrono::milliseconds> duration(const YAML::Node& node, std::string_view key);
    std::optional<std::vector<std::string>> string_list(const YAML::Node& node, std::string_view key);

private:
    std::filesystem::path file_;
    std::vector<std::string> errors_;
};

// Joins a parent key path and a child name: ("http", "body_limit") -> "http.body_limit".
std::string join_key(std::string_view parent, std::string_view child);

// The closest candidate within a small edit distance, for "did you mean" hints.
std::optional<std::string_view> closest_match(std::string_view word,
                                              const std::vector<std::string_view>& candidates);

}  // namespace raydeploy
