// Catalog loading and validation.
#include "raydeploy/catalog/catalog.hpp"

#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/yaml_reader.hpp"

#include <set>

namespace raydeploy {

namespace fs = std::filesystem;

checkpoint_catalog::checkpoint_catalog(fs::path source, std::vector<checkpoint> checkpoints)
    : source_{std::move(source)}, checkpoints_{std::move(checkpoints)}
{
}

const checkpoint* checkpoint_catalog::find(std::string_view name) const
{
    for (const auto& item : checkpoints_)
        if (item.name == name) return &item;
    return nullptr;
}

bool is_valid_checkpoint_name(std::string_view name)
{
    if (name.empty() || name.size() > 64) return false;
    const auto is_lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!is_lower_alnum(name.front())) return false;
    for (char c : name)
        if (!is_lower_alnum(c) && c != '-') return false;
    return true;
}

checkpoint_catalog load_catalog(const fs::path& file)
{
    yaml_reader reader{file};
    const YAML::Node root = reader.load();
    const fs::path base = fs::absolute(file).parent_path();

    if (root.IsNull()) {
        reader.error(root, "", "the catalog is empty; it needs a 'checkpoints' list");
        reader.throw_if_errors();
    }
    if (!reader.check_mapping(root, "", {"checkpoints"}) || !reader.require(root, "", "checkpoints"))
        reader.throw_if_errors();

    const YAML::Node list = root["checkpoints"];
    if (!list.IsSequence() || list.size() == 0) {
        reader.error(list, "checkpoints", "expected a non-empty list of checkpoints");
        reader.throw_if_errors();
    }

    std::vector<checkpoint> checkpoints;
    std::set<std::string, std::less<>> names;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const YAML::Node entry = list[i];
        const std::string key = "checkpoints[" + std::to_string(i) + "]";
        if (!reader.check_mapping(entry, key,
                                  {"name", "playbook", "description", "approval_required", "destructive",
                                   "impact_summary", "timeout"}))
            continue;
        for (auto required : {"name", "playbook", "description", "timeout"}) reader.require(entry, key, required);

        checkpoint item;
        item.order = static_cast<int>(i) + 1;
        if (const YAML::Node node = entry["name"]) {
            if (auto name = reader.string(node, key + ".name")) {
                if (!is_valid_checkpoint_name(*name))
                    reader.error(node, key + ".name",
                                 "\"" + *name + "\" is not a valid name: use lowercase letters, digits and "
                                 "'-', starting with a letter or digit (at most 64 characters)");
                else if (!names.insert(*name).second)
                    reader.error(node, key + ".name", "\"" + *name + "\" is used by an earlier checkpoint; names must be unique");
                item.name = *name;
            }
        }
        if (const YAML::Node node = entry["playbook"]) {
            if (auto playbook = reader.string(node, key + ".playbook")) {
                item.playbook = (base / *playbook).lexically_normal();
                std::error_code ec;
                if (playbook->empty() || !fs::is_regular_file(item.playbook, ec))
                    reader.error(node, key + ".playbook",
                                 "playbook file '" + item.playbook.string() +
                                     "' does not exist; paths are relative to the catalog file");
            }
        }
        if (const YAML::Node node = entry["description"])
            if (auto text = reader.string(node, key + ".description")) item.description = *text;
        if (const YAML::Node node = entry["approval_required"])
            if (auto flag = reader.boolean(node, key + ".approval_required")) item.approval_required = *flag;
        if (const YAML::Node node = entry["destructive"])
            if (auto flag = reader.boolean(node, key + ".destructive")) item.destructive = *flag;
        if (const YAML::Node node = entry["impact_summary"])
            if (auto lines = reader.string_list(node, key + ".impact_summary")) item.impact_summary = *lines;
        if (const YAML::Node node = entry["timeout"]) {
            if (auto timeout = reader.duration(node, key + ".timeout")) {
                item.timeout = std::chrono::duration_cast<std::chrono::seconds>(*timeout);
                if (item.timeout.count() < 1)
                    reader.error(node, key + ".timeout", "must be at least one second");
            }
        }
        // A destructive step that could run without a human decision defeats the point of the catalog.
        if (item.destructive && !item.approval_required)
            reader.error(entry, key, "checkpoint \"" + item.name +
                                         "\" is destructive but has approval_required: false; destructive "
                                         "checkpoints must require approval");
        checkpoints.push_back(std::move(item));
    }
    reader.throw_if_errors();
    return checkpoint_catalog{fs::absolute(file).lexically_normal(), std::move(checkpoints)};
}

}  // namespace raydeploy
