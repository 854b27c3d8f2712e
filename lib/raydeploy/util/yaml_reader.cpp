// Strict YAML reading with located diagnostics; see yaml_reader.hpp for the contract.
#include "raydeploy/util/yaml_reader.hpp"

#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/errors.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace raydeploy {
namespace {

std::string describe(const YAML::Node& node)
{
    switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return "\"" + node.Scalar() + "\"";
    default: return "an undefined value";
    }
}

std::size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string join_key(std::string_view parent, std::string_view child)
{
    if (parent.empty()) return std::string{child};
    std::string out{parent};
    if (!child.empty() && child.front() != '[') out += '.';
    out += child;
    return out;
}

std::optional<std::string_view> closest_match(std::string_view word,
                                              const std::vector<std::string_view>& candidates)
{
    std::optional<std::string_view> best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (auto candidate : candidates) {
        // The distance is at least the difference in length: a long word (a pasted value, say)
        // costs nothing against short keys instead of a full edit-distance table each.
        const std::size_t length_difference =
            word.size() > candidate.size() ? word.size() - candidate.size() : candidate.size() - word.size();
        if (length_difference >= best_distance) continue;
        const std::size_t distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best;
}

yaml_reader::yaml_reader(std::filesystem::path file) : file_{std::move(file)} {}

YAML::Node yaml_reader::load() const
{
    std::error_code ec;
    if (!std::filesystem::exists(file_, ec))
        throw config_error{file_.string() + ": file not found; check the path (relative paths are "
                           "resolved from the current directory)"};
    if (std::filesystem::is_directory(file_, ec))
        throw config_error{file_.string() + ": is a directory, expected a YAML file"};
    std::ifstream in{file_};
    if (!in) throw config_error{file_.string() + ": cannot be read; check its permissions"};
    try {
        return YAML::Load(in);
    } catch (const YAML::ParserException& e) {
        throw config_error{file_.string() + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg};
    }
}

std::string yaml_reader::location(const YAML::Node& node) const
{
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) return file_.string();
    return file_.string() + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

void yaml_reader::error(const YAML::Node& at, std::string_view key, std::string_view message)
{
    std::string line = location(at) + ": ";
    if (!key.empty()) {
        line += key;
        line += ": ";
    }
    line += message;
    errors_.push_back(std::move(line));
}

void yaml_reader::throw_if_errors() const
{
    if (errors_.empty()) return;
    std::ostringstream joined;
    for (std::size_t i = 0; i < errors_.size(); ++i) joined << (i ? "\n" : "") << errors_[i];
    throw config_error{joined.str()};
}

bool yaml_reader::check_mapping(const YAML::Node& node, std::string_view key,
                                const std::vector<std::string_view>& allowed)
{
    if (!node.IsMap()) {
        error(node, key, "expected a mapping of keys to values, got " + describe(node));
        return false;
    }
    std::set<std::string, std::less<>> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
        const std::string name = it->first.Scalar();
        const std::string path = join_key(key, name);
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
            std::string message = "unknown key";
            if (auto hint = closest_match(name, allowed)) {
                message += "; did you mean '";
                message += *hint;
                message += "'?";
            } else {
                message += "; valid keys here:";
                for (auto valid : allowed) {
                    message += ' ';
                    message += valid;
                }
            }
            error(it->first, path, message);
        } else if (!seen.insert(name).second) {
            error(it->first, path, "duplicate key; keep one of them");
        }
    }
    return true;
}

bool yaml_reader::require(const YAML::Node& parent, std::string_view parent_key, std::string_view name)
{
    if (parent[std::string{name}]) return true;
    error(parent, join_key(parent_key, name), "required key is missing");
    return false;
}

std::optional<std::string> yaml_reader::string(const YAML::Node& node, std::string_view key)
{
    if (!node.IsScalar()) {
        error(node, key, "expected a string, got " + describe(node));
        return std::nullopt;
    }
    return node.Scalar();
}

std::optional<bool> yaml_reader::boolean(const YAML::Node& node, std::string_view key)
{
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
        error(node, key, "expected true or false, got " + describe(node));
        return std::nullopt;
    }
    return value;
}

std::optional<std::uint64_t> yaml_reader::unsigned_integer(const YAML::Node& node, std::string_view key,
                                                           std::uint64_t min, std::uint64_t max)
{
    const std::string range = " between " + std::to_string(min) + " and " + std::to_string(max);
    const bool digits_only = node.IsScalar() && !node.Scalar().empty() &&
                             node.Scalar().find_first_not_of("0123456789") == std::string::npos;
    if (!digits_only || node.Scalar().size() > 19) {
        error(node, key, "expected a whole number" + range + ", got " + describe(node));
        return std::nullopt;
    }
    const std::uint64_t value = std::stoull(node.Scalar());
    if (value < min || value > max) {
        error(node, key, "expected a whole number" + range + ", got " + node.Scalar());
        return std::nullopt;
    }
    return value;
}

std::optional<std::chrono::milliseconds> yaml_reader::duration(const YAML::Node& node, std::string_view key)
{
    std::optional<std::chrono::milliseconds> value;
    if (node.IsScalar()) value = parse_duration(node.Scalar());
    if (!value) {
        error(node, key,
              "expected a duration: seconds as a number (600) or a string such as 90s, 30m, 1h30m; got " +
                  describe(node));
    }
    return value;
}

std::optional<std::vector<std::string>> yaml_reader::string_list(const YAML::Node& node, std::string_view key)
{
    if (!node.IsSequence()) {
        error(node, key, "expected a list of strings, got " + describe(node));
        return std::nullopt;
    }
    std::vector<std::string> values;
    bool ok = true;
    for (std::size_t i = 0; i < node.size(); ++i) {
        auto item = string(node[i], join_key(key, "[" + std::to_string(i) + "]"));
        if (item) values.push_back(std::move(*item));
        else ok = false;
    }
    if (!ok) return std::nullopt;
    return values;
}

}  // namespace raydeploy
