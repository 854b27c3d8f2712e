// Catalog loading and validation.
#include "raydeploy/catalog/catalog.hpp"

#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/yaml_reader.hpp"
#include "raydeploy/util/named_enum.hpp"

#include <boost/regex.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>

namespace raydeploy {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 5> variable_type_names = {"string", "integer", "boolean", "list", "dict"};
constexpr std::array<std::string_view, 5> checkpoint_kind_names = {"ansible", "cml-project", "cml-jobs",
                                                                   "cml-job-runs", "cml-ray-cluster"};
constexpr std::array<std::string_view, 2> ray_cluster_action_names = {"launch", "teardown"};

// Ansible's magic variables and the play keywords it reserves: a value for one of them changes
// how Ansible itself behaves, not what a playbook does.
constexpr std::array<std::string_view, 23> ansible_special_names = {
    "become",        "become_method", "become_user", "connection",   "delegate_to",  "environment",
    "group_names",   "groups",        "hosts",       "hostvars",     "inventory_dir", "inventory_file",
    "inventory_hostname", "inventory_hostname_short", "omit", "play_hosts", "playbook_dir", "port",
    "remote_user",   "role_name",     "role_names",  "role_path",    "vars"};

bool is_identifier(std::string_view name)
{
    return !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front())) &&
           name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
               std::string_view::npos;
}

// Variables the roles beside a playbook define in their vars/ files: derived values and safety
// lists that those files say are not to be overridden, each with the file that defines it
// (relative to the playbook's directory). Role vars lose only to extra vars, so an extra var is
// exactly what would override them.
using internal_names = std::map<std::string, std::string, std::less<>>;

internal_names read_internal_names(const fs::path& playbook_dir)
{
    internal_names names;
    std::error_code ec;
    const fs::path roles = playbook_dir / "roles";
    if (!fs::is_directory(roles, ec)) return names;
    std::vector<fs::path> files;
    for (const auto& role : fs::directory_iterator{roles, ec}) {
        const fs::path vars = role.path() / "vars";
        if (!fs::is_directory(vars, ec)) continue;
        for (const auto& file : fs::recursive_directory_iterator{vars, ec}) {
            const auto extension = file.path().extension();
            if (file.is_regular_file(ec) && (extension == ".yml" || extension == ".yaml")) files.push_back(file.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        const YAML::Node root = yaml_reader{file}.load();  // throws config_error naming the file
        if (!root.IsMap()) continue;
        for (auto it = root.begin(); it != root.end(); ++it)
            names.emplace(it->first.Scalar(), file.lexically_relative(playbook_dir).string());
    }
    return names;
}

// A choice of a string, integer or boolean variable, as the JSON value a request would carry.
std::optional<json::value> read_choice(yaml_reader& reader, const YAML::Node& node, const std::string& key,
                                       variable_type type)
{
    if (type == variable_type::string) {
        if (auto text = reader.string(node, key)) return json::value(*text);
    } else if (type == variable_type::boolean) {
        if (auto flag = reader.boolean(node, key)) return json::value(*flag);
    } else {
        std::int64_t number = 0;
        if (node.IsScalar() && YAML::convert<std::int64_t>::decode(node, number)) return json::value(number);
        reader.error(node, key,
                     "expected a whole number, got " + (node.IsScalar() ? "\"" + node.Scalar() + "\"" : std::string{"a collection"}));
    }
    return std::nullopt;
}

std::vector<variable_spec> read_vars(yaml_reader& reader, const YAML::Node& node, const std::string& key,
                                     const internal_names& internal)
{
    std::vector<variable_spec> vars;
    if (!node.IsMap()) {
        reader.error(node, key,
                     "expected a mapping of variable names to {type, description, choices, pattern, secret}");
        return vars;
    }
    std::set<std::string, std::less<>> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
        variable_spec spec;
        spec.name = it->first.Scalar();
        const std::string var_key = join_key(key, spec.name);
        if (!is_identifier(spec.name)) {
            reader.error(it->first, var_key, "variable names are letters, digits and '_', not starting with a digit");
            continue;
        }
        if (!seen.insert(spec.name).second) {
            reader.error(it->first, var_key, "declared twice; keep one of them");
            continue;
        }
        if (is_reserved_variable_name(spec.name)) {
            reader.error(it->first, var_key,
                         "cannot be declared: ansible_* are Ansible's own settings (connection, become, "
                         "interpreter), raydeploy_* are set by the service, and Ansible's magic variables and "
                         "play keywords are never settable; set such values in the inventory");
            continue;
        }
        if (auto found = internal.find(spec.name); found != internal.end()) {
            reader.error(it->first, var_key,
                         "cannot be declared: it is internal to the playbooks (defined in " + found->second +
                             ", a role's vars file: derived values and safety lists that runs must not override)");
            continue;
        }
        const YAML::Node fields = it->second;
        if (!reader.check_mapping(fields, var_key, {"type", "description", "choices", "pattern", "secret"})) continue;
        const bool complete = reader.require(fields, var_key, "type") & reader.require(fields, var_key, "description");
        if (!complete) continue;
        const auto type_name = reader.string(fields["type"], join_key(var_key, "type"));
        if (!type_name) continue;
        const auto type = enum_from_name<variable_type>(variable_type_names, *type_name);
        if (!type) {
            reader.error(fields["type"], join_key(var_key, "type"),
                         "unknown type \"" + *type_name + "\"; expected string, integer, boolean, list or dict");
            continue;
        }
        spec.type = *type;
        if (auto text = reader.string(fields["description"], join_key(var_key, "description"))) {
            spec.description = *text;
            if (text->empty())
                reader.error(fields["description"], join_key(var_key, "description"), "say what the variable changes");
        }
        if (const YAML::Node secret = fields["secret"])
            if (auto flag = reader.boolean(secret, join_key(var_key, "secret"))) spec.secret = *flag;
        if (const YAML::Node pattern = fields["pattern"]) {
            const std::string pattern_key = join_key(var_key, "pattern");
            if (spec.type != variable_type::string) {
                reader.error(pattern, pattern_key, "a pattern applies to string variables only");
            } else if (auto text = reader.string(pattern, pattern_key)) {
                try {
                    full_match(*text, "");
                    spec.pattern = *text;
                } catch (const std::exception& e) {
                    reader.error(pattern, pattern_key, std::string{"not a valid regular expression: "} + e.what());
                }
            }
        }
        if (const YAML::Node choices = fields["choices"]) {
            const std::string choices_key = join_key(var_key, "choices");
            if (spec.type == variable_type::list || spec.type == variable_type::dict) {
                reader.error(choices, choices_key, "choices apply to string, integer and boolean variables only");
            } else if (!choices.IsSequence() || choices.size() == 0) {
                reader.error(choices, choices_key, "expected a non-empty list of the allowed values");
            } else {
                for (std::size_t i = 0; i < choices.size(); ++i) {
                    const std::string choice_key = join_key(choices_key, "[" + std::to_string(i) + "]");
                    auto choice = read_choice(reader, choices[i], choice_key, spec.type);
                    if (!choice) continue;
                    if (spec.pattern && choice->is_string() &&
                        !full_match(*spec.pattern, std::string{choice->get_string()}))
                        reader.error(choices[i], choice_key, "does not match the variable's own pattern");
                    spec.choices.push_back(std::move(*choice));
                }
            }
        }
        vars.push_back(std::move(spec));
    }
    return vars;
}

// A config file named by an entry: relative to the catalog's directory, and inside it (symbolic
// links count where they lead), so a catalog directory holds everything its steps read.
std::optional<fs::path> read_config_path(yaml_reader& reader, const YAML::Node& node, const std::string& key,
                                         const fs::path& base)
{
    const auto text = reader.string(node, key);
    if (!text) return std::nullopt;
    if (text->empty() || fs::path{*text}.is_absolute()) {
        reader.error(node, key, "give the file's path relative to the catalog's directory (" + base.string() + ")");
        return std::nullopt;
    }
    const fs::path path = (base / *text).lexically_normal();
    std::error_code ec, base_ec;
    const fs::path inside = fs::weakly_canonical(path, ec).lexically_relative(fs::weakly_canonical(base, base_ec));
    if (ec || base_ec || inside.empty() || *inside.begin() == "..") {
        reader.error(node, key,
                     "'" + *text + "' leaves the catalog's directory " + base.string() +
                         "; keep the files a catalog names beside it or below");
        return std::nullopt;
    }
    if (!fs::is_regular_file(path, ec)) {
        reader.error(node, key, "'" + path.string() + "' does not exist; paths are relative to the catalog file");
        return std::nullopt;
    }
    return path;
}

// The config files entries name, each read once however many entries name it (create-jobs and
// run-jobs read the same jobs_config.yaml), and its problems reported once.
template <class Config>
class config_files {
public:
    using loader = Config (*)(const fs::path&);
    explicit config_files(loader load) : load_{load} {}

    std::shared_ptr<const Config> get(yaml_reader& reader, const YAML::Node& node, const std::string& key,
                                      const fs::path& path)
    {
        if (auto found = loaded_.find(path); found != loaded_.end()) return found->second;
        if (failed_.count(path)) {
            reader.error(node, key, path.string() + " has the problems listed above");
            return nullptr;
        }
        try {
            auto config = std::make_shared<const Config>(load_(path));
            loaded_.emplace(path, config);
            return config;
        } catch (const config_error& e) {
            failed_.insert(path);
            reader.error(node, key, path.string() + " has problems; fix them:\n" + e.what());
            return nullptr;
        }
    }

private:
    loader load_;
    std::map<fs::path, std::shared_ptr<const Config>> loaded_;
    std::set<fs::path> failed_;
};

// The keys that only some kinds have: `action`, `jobs_config`, `cluster_config`, and the rules of
// a teardown.
struct kind_specific_reader {
    yaml_reader& reader;
    const fs::path& base;
    config_files<cml::jobs_config> jobs{cml::load_jobs_config};
    config_files<cml::ray_cluster_config> clusters{cml::load_ray_cluster_config};

    void read(const YAML::Node& entry, const std::string& key, checkpoint& item)
    {
        const std::string who = "checkpoint \"" + item.name + "\" is of kind " + std::string{to_string(item.kind)};
        const bool reads_jobs = item.kind == checkpoint_kind::cml_jobs || item.kind == checkpoint_kind::cml_job_runs;
        const bool is_cluster = item.kind == checkpoint_kind::cml_ray_cluster;

        bool action_known = true;
        if (const YAML::Node node = entry["action"]) {
            if (!is_cluster) {
                reader.error(node, key + ".action",
                             who + "; only kind cml-ray-cluster has an action (launch or teardown): remove `action`");
            } else if (auto text = reader.string(node, key + ".action")) {
                if (auto action = enum_from_name<ray_cluster_action>(ray_cluster_action_names, *text)) {
                    item.action = *action;
                } else {
                    action_known = false;
                    reader.error(node, key + ".action", "\"" + *text + "\" is not an action; expected launch or teardown");
                }
            } else {
                action_known = false;
            }
        }

        if (reads_jobs) reader.require(entry, key, "jobs_config");
        if (const YAML::Node node = entry["jobs_config"]) {
            if (!reads_jobs)
                reader.error(node, key + ".jobs_config",
                             who + ", which reads no jobs_config (kinds cml-jobs and cml-job-runs do): remove it");
            else if (auto path = read_config_path(reader, node, key + ".jobs_config", base))
                item.jobs = jobs.get(reader, node, key + ".jobs_config", *path);
        }

        const bool launches = is_cluster && item.action == ray_cluster_action::launch;
        if (launches && action_known) reader.require(entry, key, "cluster_config");
        if (const YAML::Node node = entry["cluster_config"]; node && action_known) {
            if (is_cluster && !launches)
                reader.error(node, key + ".cluster_config",
                             "checkpoint \"" + item.name + "\" tears the cluster down, which stops what launch "
                             "started whatever the config says now: remove cluster_config");
            else if (!is_cluster)
                reader.error(node, key + ".cluster_config",
                             who + ", which reads no cluster_config (kind cml-ray-cluster does): remove it");
            else if (auto path = read_config_path(reader, node, key + ".cluster_config", base))
                item.cluster = clusters.get(reader, node, key + ".cluster_config", *path);
        }

        if (is_cluster && action_known && item.action == ray_cluster_action::teardown) {
            // Ending every Ray job and Serve application is the definition of destructive.
            if (!item.destructive)
                reader.error(entry, key,
                             "checkpoint \"" + item.name + "\" tears the Ray cluster down (action: teardown): "
                             "set destructive: true (with approval_required: true)");
            // A deployment brings the cluster up; tearing it down in the same breath is never meant.
            if (item.in_deployment)
                reader.error(entry, key,
                             "checkpoint \"" + item.name + "\" tears the Ray cluster down (action: teardown): set "
                             "in_deployment: false, so it runs only on its own (raydeploy run " + item.name + ")");
        }
    }
};

}  // namespace

std::string_view to_string(variable_type type) { return enum_name(variable_type_names, type); }

std::string_view to_string(checkpoint_kind kind) { return enum_name(checkpoint_kind_names, kind); }

std::string_view to_string(ray_cluster_action action) { return enum_name(ray_cluster_action_names, action); }

std::optional<checkpoint_kind> parse_checkpoint_kind(std::string_view text)
{
    return enum_from_name<checkpoint_kind>(checkpoint_kind_names, text);
}

std::string checkpoint_kind_list()
{
    std::string list;
    for (const auto name : checkpoint_kind_names) list += (list.empty() ? "" : ", ") + std::string{name};
    return list;
}

bool is_reserved_variable_name(std::string_view name)
{
    if (name.rfind("ansible_", 0) == 0 || name.rfind("raydeploy_", 0) == 0) return true;
    return std::find(ansible_special_names.begin(), ansible_special_names.end(), name) != ansible_special_names.end();
}

bool full_match(const std::string& pattern, const std::string& value)
{
    // Boost.Regex rather than std::regex: it does not recurse per character (a long value cannot
    // overflow the stack) and it gives up with an exception on catastrophic backtracking.
    const boost::regex expression{pattern, boost::regex::ECMAScript | boost::regex::no_mod_s};
    return boost::regex_match(value, expression);
}

const variable_spec* checkpoint::find_var(std::string_view name) const
{
    for (const auto& spec : vars)
        if (spec.name == name) return &spec;
    return nullptr;
}

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
    std::map<fs::path, internal_names> internal_by_dir;
    kind_specific_reader kind_specific{reader, base};
    for (std::size_t i = 0; i < list.size(); ++i) {
        const YAML::Node entry = list[i];
        const std::string key = "checkpoints[" + std::to_string(i) + "]";
        if (!reader.check_mapping(entry, key,
                                  {"name", "kind", "playbook", "description", "approval_required", "destructive",
                                   "impact_summary", "timeout", "vars", "in_deployment", "jobs_config",
                                   "cluster_config", "action"}))
            continue;
        for (auto required : {"name", "description", "timeout"}) reader.require(entry, key, required);

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
        // Read before `playbook`, which only kind ansible has. An unknown kind says nothing about
        // whether a playbook belongs, so its entry gets no second complaint about one.
        bool kind_known = true;
        if (const YAML::Node node = entry["kind"]) {
            if (auto text = reader.string(node, key + ".kind")) {
                if (auto kind = parse_checkpoint_kind(*text)) {
                    item.kind = *kind;
                } else {
                    kind_known = false;
                    reader.error(node, key + ".kind",
                                 (item.name.empty() ? std::string{} : "checkpoint \"" + item.name + "\": ") + "\"" +
                                     *text + "\" is not a kind of checkpoint; the kinds are " + checkpoint_kind_list() +
                                     " (without `kind`: ansible, which runs `playbook`)");
                }
            } else {
                kind_known = false;
            }
        }
        if (kind_known && item.kind == checkpoint_kind::ansible) reader.require(entry, key, "playbook");
        if (const YAML::Node node = entry["playbook"]; node && kind_known && item.kind != checkpoint_kind::ansible) {
            reader.error(node, key + ".playbook",
                         "checkpoint \"" + item.name + "\" is of kind " + std::string{to_string(item.kind)} +
                             ", which runs no playbook; remove `playbook` (only kind ansible runs one)");
        } else if (node) {
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
        if (const YAML::Node node = entry["in_deployment"])
            if (auto flag = reader.boolean(node, key + ".in_deployment")) item.in_deployment = *flag;
        if (const YAML::Node node = entry["impact_summary"])
            if (auto lines = reader.string_list(node, key + ".impact_summary")) item.impact_summary = *lines;
        if (const YAML::Node node = entry["timeout"]) {
            if (auto timeout = reader.duration(node, key + ".timeout")) {
                item.timeout = std::chrono::duration_cast<std::chrono::seconds>(*timeout);
                if (item.timeout.count() < 1)
                    reader.error(node, key + ".timeout", "must be at least one second");
            }
        }
        if (const YAML::Node node = entry["vars"]) {
            const fs::path playbook_dir = item.playbook.empty() ? base : item.playbook.parent_path();
            auto found = internal_by_dir.find(playbook_dir);
            if (found == internal_by_dir.end())
                found = internal_by_dir.emplace(playbook_dir, read_internal_names(playbook_dir)).first;
            item.vars = read_vars(reader, node, key + ".vars", found->second);
        }
        // An unknown kind says nothing about which of these keys belong.
        if (kind_known) kind_specific.read(entry, key, item);
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
