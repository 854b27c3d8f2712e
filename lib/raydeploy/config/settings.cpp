// Settings loading. Every setting is described once in `setting_table`; the YAML file, the
// environment and the flags all go through the same parser for it, so a value means the same
// thing wherever it is written.
#include "raydeploy/config/settings.hpp"

#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/yaml_reader.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <charconv>
#include <functional>
#include <sstream>

extern char** environ;

namespace raydeploy {
namespace {

namespace fs = std::filesystem;

// Returns an error message, or nothing when the value was applied.
using apply_fn = std::function<std::optional<std::string>(settings&, std::string_view value, const fs::path& base)>;
using text_fn = std::function<std::string(const settings&)>;

struct setting_spec {
    setting_description description;
    apply_fn apply;
    text_fn text;
};

fs::path resolve(const fs::path& base, std::string_view value)
{
    fs::path path{value};
    if (path.is_relative() && !base.empty()) path = base / path;
    return path.lexically_normal();
}

setting_spec path_setting(std::string_view key, std::string_view flag, std::string_view help, fs::path settings::*member)
{
    return {{key, flag, help},
            [member](settings& s, std::string_view value, const fs::path& base) -> std::optional<std::string> {
                if (value.empty()) return "expected a path, got an empty string";
                s.*member = resolve(base, value);
                return std::nullopt;
            },
            [member](const settings& s) { return (s.*member).string(); }};
}

// `field` maps the settings to the member this setting writes, e.g. &settings::http + body_limit.
template <class Field>
setting_spec number_setting(std::string_view key, std::string_view flag, std::string_view help, Field field,
                            std::size_t min, std::size_t max, std::string_view unit)
{
    return {{key, flag, help},
            [=](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                std::size_t parsed = 0;
                const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
                if (ec != std::errc{} || end != value.data() + value.size() || parsed < min || parsed > max)
                    return "expected " + std::string{unit} + " between " + std::to_string(min) + " and " +
                           std::to_string(max) + ", got \"" + std::string{value} + "\"";
                field(s) = parsed;
                return std::nullopt;
            },
            [field](const settings& s) { return std::to_string(field(const_cast<settings&>(s))); }};
}

template <class Field>
setting_spec duration_setting(std::string_view key, std::string_view help, Field field)
{
    return {{key, "", help},
            [field](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                const auto parsed = parse_duration(value);
                if (!parsed || parsed->count() == 0)
                    return "expected a positive duration such as 500ms, 30s, 5m; got \"" + std::string{value} + "\"";
                field(s) = *parsed;
                return std::nullopt;
            },
            [field](const settings& s) { return format_duration(field(const_cast<settings&>(s))); }};
}

const std::vector<setting_spec>& setting_table()
{
    static const std::vector<setting_spec> table = [] {
        std::vector<setting_spec> t;
        t.push_back({{"listen", "--listen", "HOST:PORT to serve HTTP on; port 0 picks a free port"},
                     [](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                         auto parsed = parse_listen_address(value);
                         if (!parsed)
                             return "expected HOST:PORT such as 127.0.0.1:8000 or [::1]:8000, got \"" +
                                    std::string{value} + "\"";
                         s.listen = *parsed;
                         return std::nullopt;
                     },
                     [](const settings& s) { return s.listen.to_string(); }});
        t.push_back(path_setting("state_dir", "--state-dir", "directory holding the SQLite store and the lock file",
                                 &settings::state_dir));
        t.push_back(path_setting("catalog", "--catalog", "checkpoint catalog (YAML)", &settings::catalog));
        t.push_back(path_setting("inventory", "--inventory", "Ansible inventory the checkpoints run against",
                                 &settings::inventory));
        t.push_back({{"log.level", "--log-level", "trace, debug, info, warn or error"},
                     [](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                         auto parsed = log::parse_level(value);
                         if (!parsed)
                             return "expected one of trace, debug, info, warn, error; got \"" + std::string{value} + "\"";
                         s.log_level = *parsed;
                         return std::nullopt;
                     },
                     [](const settings& s) { return std::string{log::to_string(s.log_level)}; }});
        t.push_back({{"log.format", "--log-format", "text (one readable line per record) or json"},
                     [](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                         auto parsed = log::parse_format(value);
                         if (!parsed) return "expected text or json, got \"" + std::string{value} + "\"";
                         s.log_format = *parsed;
                         return std::nullopt;
                     },
                     [](const settings& s) { return std::string{log::to_string(s.log_format)}; }});
        t.push_back(path_setting("ansible_playbook", "--ansible-playbook",
                                 "ansible-playbook to run (default: the project .venv, then PATH)",
                                 &settings::ansible_playbook));
        t.push_back(number_setting("http.body_limit", "", "largest request body accepted (bytes), else 413",
                                   [](settings& s) -> auto& { return s.http.body_limit; }, 1024, 1024 * 1024 * 1024,
                                   "a number of bytes"));
        t.push_back(number_setting("http.header_limit", "", "largest request header block accepted (bytes), else 431",
                                   [](settings& s) -> auto& { return s.http.header_limit; }, 1024, 1024 * 1024,
                                   "a number of bytes"));
        t.push_back(duration_setting("http.idle_timeout", "how long a connection may stay open without a request",
                                     [](settings& s) -> auto& { return s.http.idle_timeout; }));
        t.push_back(duration_setting("http.read_timeout", "how long a started request may take to arrive in full",
                                     [](settings& s) -> auto& { return s.http.read_timeout; }));
        t.push_back(duration_setting("http.write_timeout", "how long a response may take to be sent",
                                     [](settings& s) -> auto& { return s.http.write_timeout; }));
        t.push_back(duration_setting("http.shutdown_grace",
                                     "how long SIGTERM waits for in-flight requests before closing them",
                                     [](settings& s) -> auto& { return s.http.shutdown_grace; }));
        t.push_back(number_setting("executions.max_concurrent", "",
                                   "how many executions run at once; more wait as queued",
                                   [](settings& s) -> auto& { return s.executions.max_concurrent; }, 1, 64,
                                   "a whole number"));
        t.push_back(duration_setting("executions.kill_grace",
                                     "how long a cancelled or timed-out run gets after SIGTERM before SIGKILL",
                                     [](settings& s) -> auto& { return s.executions.kill_grace; }));
        t.push_back(number_setting("events.queue_size", "",
                                   "events queued per WebSocket subscriber before it is closed as too slow",
                                   [](settings& s) -> auto& { return s.events.queue_size; }, 16, 1000000,
                                   "a whole number"));
        t.push_back(duration_setting("events.batch_delay", "how long an event may wait to be stored with others",
                                     [](settings& s) -> auto& { return s.events.batch_delay; }));
        t.push_back(number_setting("websocket.max_message", "", "largest message a WebSocket client may send (bytes)",
                                   [](settings& s) -> auto& { return s.websocket.max_message; }, 128,
                                   16 * 1024 * 1024, "a number of bytes"));
        t.push_back(duration_setting("websocket.idle_timeout",
                                     "a silent WebSocket is pinged after half of this and closed after all of it",
                                     [](settings& s) -> auto& { return s.websocket.idle_timeout; }));
        return t;
    }();
    return table;
}

const setting_spec* find_setting(std::string_view key)
{
    for (const auto& spec : setting_table())
        if (spec.description.key == key) return &spec;
    return nullptr;
}

// Walks the YAML file: top-level keys are settings or sections ("log", "http") of settings.
void apply_file(settings& result, yaml_reader& reader, const YAML::Node& root)
{
    if (root.IsNull()) return;  // an empty file means "all defaults"
    const fs::path base = reader.file().parent_path();

    const auto apply_scalar = [&](const YAML::Node& node, const std::string& key) {
        const setting_spec* spec = find_setting(key);
        if (!spec) return;  // already reported by check_mapping
        auto value = reader.string(node, key);
        if (!value) return;
        if (auto problem = spec->apply(result, *value, base)) {
            reader.error(node, key, *problem);
            return;
        }
        result.sources[key] = reader.location(node);
    };

    // Top-level names: the settings without a section, and the sections.
    std::vector<std::string_view> top_level;
    std::map<std::string, std::vector<std::string_view>, std::less<>> sections;
    for (const auto& spec : setting_table()) {
        const std::string_view key = spec.description.key;
        const auto dot = key.find('.');
        const std::string_view head = key.substr(0, dot);
        if (std::find(top_level.begin(), top_level.end(), head) == top_level.end()) top_level.push_back(head);
        if (dot != std::string_view::npos) sections[std::string{head}].push_back(key.substr(dot + 1));
    }
    if (!reader.check_mapping(root, "", top_level)) return;
    for (auto it = root.begin(); it != root.end(); ++it) {
        const std::string name = it->first.Scalar();
        const YAML::Node value = it->second;
        if (auto section = sections.find(name); section != sections.end()) {
            if (!reader.check_mapping(value, name, section->second)) continue;
            for (auto sub = value.begin(); sub != value.end(); ++sub)
                apply_scalar(sub->second, name + "." + sub->first.Scalar());
        } else if (find_setting(name)) {
            apply_scalar(value, name);
        }
    }
}

void apply_overrides(settings& result, const std::vector<setting_override>& overrides,
                     std::vector<std::string>& problems)
{
    for (const auto& item : overrides) {
        const setting_spec* spec = find_setting(item.key);
        if (!spec) {
            problems.push_back(item.source + ": not a setting");
            continue;
        }
        if (auto problem = spec->apply(result, item.value, {})) {
            problems.push_back(item.source + ": " + *problem);
            continue;
        }
        result.sources[item.key] = item.source;
    }
}

}  // namespace

std::string listen_address::to_string() const
{
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool listen_address::is_loopback() const
{
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    return !ec && address.is_loopback();
}

std::optional<listen_address> parse_listen_address(std::string_view text)
{
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    std::string host{text.substr(0, colon)};
    const std::string_view port_text = text.substr(colon + 1);
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return std::nullopt;
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string::npos) {
        return std::nullopt;  // IPv6 needs brackets to tell the port apart
    }
    if (host == "localhost") host = "127.0.0.1";
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    unsigned port = 0;
    const auto [end, perr] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || perr != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
        return std::nullopt;
    return listen_address{address.to_string(), static_cast<std::uint16_t>(port)};
}

const std::vector<setting_description>& setting_descriptions()
{
    static const std::vector<setting_description> descriptions = [] {
        std::vector<setting_description> d;
        for (const auto& spec : setting_table()) d.push_back(spec.description);
        return d;
    }();
    return descriptions;
}

std::string environment_variable_for(std::string_view key)
{
    std::string name = "RAYDEPLOY_";
    for (char c : key) name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
}

std::vector<setting_override> environment_overrides(const std::map<std::string, std::string>& environment)
{
    std::vector<setting_override> result;
    for (const auto& spec : setting_table()) {
        const std::string variable = environment_variable_for(spec.description.key);
        if (auto it = environment.find(variable); it != environment.end())
            result.push_back({std::string{spec.description.key}, it->second, "environment variable " + variable});
    }
    return result;
}

std::map<std::string, std::string> current_environment()
{
    std::map<std::string, std::string> result;
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string_view text{*entry};
        const auto equals = text.find('=');
        if (equals != std::string_view::npos) result.emplace(text.substr(0, equals), text.substr(equals + 1));
    }
    return result;
}

settings load_settings(const std::optional<fs::path>& config_file, const std::vector<setting_override>& environment,
                       const std::vector<setting_override>& flags)
{
    settings result;
    for (const auto& spec : setting_table()) result.sources[std::string{spec.description.key}] = "default";

    if (config_file) {
        yaml_reader reader{*config_file};
        const YAML::Node root = reader.load();
        apply_file(result, reader, root);
        reader.throw_if_errors();
        result.config_file = *config_file;
    }

    std::vector<std::string> problems;
    apply_overrides(result, environment, problems);
    apply_overrides(result, flags, problems);
    if (!problems.empty()) {
        std::ostringstream joined;
        for (std::size_t i = 0; i < problems.size(); ++i) joined << (i ? "\n" : "") << problems[i];
        throw config_error{joined.str()};
    }
    return result;
}

void check_serve_paths(const settings& value)
{
    std::error_code ec;
    if (!fs::is_regular_file(value.inventory, ec))
        throw config_error{"inventory: file '" + value.inventory.string() + "' (from " +
                           value.sources.at("inventory") +
                           ") does not exist; give an Ansible inventory with --inventory FILE"};
    if (fs::exists(value.state_dir, ec) && !fs::is_directory(value.state_dir, ec))
        throw config_error{"state_dir: '" + value.state_dir.string() + "' (from " + value.sources.at("state_dir") +
                           ") exists and is not a directory; choose another --state-dir"};
}

std::string setting_value_text(const settings& value, std::string_view key)
{
    const setting_spec* spec = find_setting(key);
    return spec ? spec->text(value) : std::string{};
}

}  // namespace raydeploy
