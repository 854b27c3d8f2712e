// Settings loading. Every setting is described once in `setting_table`; the YAML file, the
// environment and the flags all go through the same parser for it, so a value means the same
// thing wherever it is written.
#include "raydeploy/config/settings.hpp"

#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/config/install_layout.hpp"
#include "raydeploy/util/duration.hpp"
#include "raydeploy/util/errors.hpp"
#include "raydeploy/util/web_origin.hpp"
#include "raydeploy/util/yaml_reader.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

extern char** environ;

namespace raydeploy {
namespace {

namespace fs = std::filesystem;

// Returns an error message, or nothing when the value was applied.
using apply_fn = std::function<std::optional<std::string>(settings&, std::string_view value, const fs::path& base)>;
using text_fn = std::function<std::string(const settings&)>;
// Reads a setting whose YAML form is not a scalar (auth.tokens, a list of mappings), recording
// located problems on the reader; returns whether the value was applied.
using read_yaml_fn = std::function<bool(settings&, yaml_reader&, const YAML::Node&, const std::string& key)>;

struct setting_spec {
    setting_description description;
    apply_fn apply;  // the value as text: a scalar in the file, an environment variable, a flag
    text_fn text;
    read_yaml_fn read_yaml = {};  // when set, the file's value goes here instead of `apply`
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

// A path that may stay unset (`field` maps the settings to an optional path).
template <class Field>
setting_spec optional_path_setting(std::string_view key, std::string_view help, Field field)
{
    return {{key, "", help},
            [field](settings& s, std::string_view value, const fs::path& base) -> std::optional<std::string> {
                if (value.empty()) return "expected a path, got an empty string";
                field(s) = resolve(base, value);
                return std::nullopt;
            },
            [field](const settings& s) {
                const auto& value = field(const_cast<settings&>(s));
                return value ? value->string() : std::string{};
            }};
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

// The words YAML 1.1 reads as booleans, so the file and RAYDEPLOY_* variables accept the same.
template <class Field>
setting_spec boolean_setting(std::string_view key, std::string_view help, Field field)
{
    return {{key, "", help},
            [field](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                std::string lower;
                for (char c : value) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") field(s) = true;
                else if (lower == "false" || lower == "no" || lower == "off" || lower == "0") field(s) = false;
                else return "expected true or false, got \"" + std::string{value} + "\"";
                return std::nullopt;
            },
            [field](const settings& s) { return std::string{field(const_cast<settings&>(s)) ? "true" : "false"}; }};
}

// A list of strings: a YAML sequence in the file, comma-separated in a variable or a flag (an
// empty value is the empty list). `problem` checks each entry.
template <class Field>
setting_spec list_setting(std::string_view key, std::string_view help, Field field,
                          std::optional<std::string> (*problem)(std::string_view))
{
    const auto apply = [field, problem](settings& s,
                                        const std::vector<std::string>& entries) -> std::optional<std::string> {
        for (std::size_t i = 0; i < entries.size(); ++i)
            if (auto bad = problem(entries[i])) return "entry " + std::to_string(i + 1) + ": " + *bad;
        field(s) = entries;
        return std::nullopt;
    };
    return {{key, "", help},
            [apply](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                std::vector<std::string> entries;
                std::size_t start = 0;
                while (start <= value.size()) {
                    const std::size_t comma = std::min(value.find(',', start), value.size());
                    std::string_view item = value.substr(start, comma - start);
                    start = comma + 1;
                    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())))
                        item.remove_prefix(1);
                    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())))
                        item.remove_suffix(1);
                    if (!item.empty()) entries.emplace_back(item);
                }
                return apply(s, entries);
            },
            [field](const settings& s) {
                std::string out;
                for (const auto& entry : field(const_cast<settings&>(s))) out += (out.empty() ? "" : ", ") + entry;
                return out.empty() ? std::string{"none"} : out;
            },
            [apply](settings& s, yaml_reader& reader, const YAML::Node& node, const std::string& key) {
                if (node.IsNull()) return !apply(s, {});
                auto entries = reader.string_list(node, key);
                if (!entries) return false;
                if (auto bad = apply(s, *entries)) {
                    reader.error(node, key, *bad);
                    return false;
                }
                return true;
            }};
}

// A base URL of an outside service; `optional`: the empty string turns it off.
template <class Field>
setting_spec url_setting(std::string_view key, std::string_view help, Field field, bool optional)
{
    return {{key, "", help},
            [=](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                if (value.empty() && optional) {
                    field(s).clear();
                    return std::nullopt;
                }
                auto url = normalise_base_url(value);
                if (!url)
                    return "expected an http:// or https:// URL such as http://127.0.0.1:8265 (no user, query or "
                           "fragment)" + std::string{optional ? ", or \"\" to turn it off" : ""} + "; got \"" +
                           std::string{value} + "\"";
                field(s) = *url;
                return std::nullopt;
            },
            [field](const settings& s) {
                const auto& value = field(const_cast<settings&>(s));
                return value.empty() ? std::string{"none"} : value;
            }};
}

// The dashboard's token: from RAYDEPLOY_RAY_TOKEN only. A config file is read by more people and
// tools than an environment, and gets copied into tickets and repositories.
setting_spec ray_token_setting()
{
    return {{"ray.auth_token", "",
             "bearer token for Ray's token authentication; only from RAYDEPLOY_RAY_TOKEN (or ray.auth_token_file), "
             "never from the config file"},
            [](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                if (value.find_first_not_of(" \t\r\n") == std::string_view::npos)
                    return "is empty; unset the variable when Ray needs no token";
                s.ray.auth_token = std::string{value};
                return std::nullopt;
            },
            [](const settings& s) { return std::string{s.ray.auth_token ? "set (hidden)" : "none"}; },
            [](settings&, yaml_reader& reader, const YAML::Node& node, const std::string& key) {
                reader.error(node, key,
                             "a token does not belong in the config file; set RAYDEPLOY_RAY_TOKEN in the service's "
                             "environment or put the token in a file only the service can read and name it in "
                             "ray.auth_token_file");
                return false;
            }};
}

// The CML API key: from RAYDEPLOY_CML_API_KEY or CML_API_KEY (environment_overrides), or the file
// cml.api_key_file names; refused in the config file for the reasons of ray_token_setting. No
// message here repeats the value: it may be a real key pasted in the wrong place.
setting_spec cml_api_key_setting()
{
    return {{"cml.api_key", "",
             "the CML API key (User Settings > API Keys), sent as a bearer token; only from RAYDEPLOY_CML_API_KEY or "
             "CML_API_KEY (or cml.api_key_file), never from the config file"},
            [](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                if (value.find_first_not_of(" \t\r\n") == std::string_view::npos)
                    return "is empty; unset the variable when CML is not used, or set it to the workspace's API key";
                for (char c : value)
                    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
                        return "holds a space, a line break or a non-ASCII character, which no CML API key has; "
                               "copy the key again (User Settings > API Keys)";
                s.cml.api_key = std::string{value};
                return std::nullopt;
            },
            [](const settings& s) { return std::string{s.cml.api_key ? "set" : "not set"}; },
            [](settings&, yaml_reader& reader, const YAML::Node& node, const std::string& key) {
                reader.error(node, key,
                             "an API key does not belong in the config file; set RAYDEPLOY_CML_API_KEY in the "
                             "service's environment or put the key in a file only the service can read and name it "
                             "in cml.api_key_file");
                return false;
            }};
}

// Whether the URL's host is localhost or a loopback address, where a secret sent over http:// never
// leaves the machine.
bool on_this_machine(boost::urls::url_view url)
{
    std::string host{url.encoded_host()};
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    return host == "localhost" || (!ec && address.is_loopback());
}

// cml.host: the key travels with every request, so plain http:// only where it stays on this machine.
setting_spec cml_host_setting()
{
    return {{"cml.host", "",
             "the CML workspace's base URL, https://WORKSPACE (API v2 under /api/v2); \"\": CML not configured"},
            [](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                if (value.empty()) {
                    s.cml.host.clear();
                    return std::nullopt;
                }
                const auto url = normalise_base_url(value);
                // A value with user info may hold a password: not repeated.
                const std::string got = value.find('@') == std::string_view::npos
                                            ? "; got \"" + std::string{value} + "\""
                                            : std::string{"; the value given holds user info ('@')"};
                if (!url)
                    return "expected the workspace's https:// URL such as https://ml.example.cloudera.site (no "
                           "user, query or fragment), or \"\" when CML is not used" + got;
                const auto parsed = boost::urls::parse_absolute_uri(*url).value();
                if (parsed.scheme() == "http" && !on_this_machine(parsed))
                    return "http:// would send the API key unencrypted; use the workspace's https:// URL (plain "
                           "http:// is accepted on loopback addresses only)";
                s.cml.host = *url;
                return std::nullopt;
            },
            [](const settings& s) { return s.cml.host.empty() ? std::string{"none (CML not configured)"} : s.cml.host; }};
}

// cml.application_url: the Ray token travels to it, so plain http:// only on this machine.
std::optional<std::string> cml_application_url_problem(std::string_view value)
{
    if (value.empty()) return std::nullopt;
    std::string probe{value};
    const auto placeholder = probe.find("{subdomain}");
    if (placeholder != std::string::npos) probe.replace(placeholder, 11, "subdomain");
    const auto url = boost::urls::parse_absolute_uri(probe);
    const bool http = url && url->scheme() == "http";
    if (!url || (url->scheme() != "https" && !http) || url->encoded_host().empty() || url->has_userinfo() ||
        url->has_query() || url->has_fragment())
        return "expected a URL such as https://{subdomain}.ml.example.cloudera.site, where {subdomain} stands for "
               "the application's subdomain (no user, query or fragment); \"\": CML's own scheme";
    if (http && !on_this_machine(*url))
        return "http:// would send the Ray token unencrypted; use https:// (plain http:// is accepted on "
               "loopback addresses only)";
    return std::nullopt;
}

// A free-text setting; `problem` says what is wrong with a value, or nothing.
template <class Field>
setting_spec text_setting(std::string_view key, std::string_view help, Field field,
                          std::optional<std::string> (*problem)(std::string_view))
{
    return {{key, "", help},
            [field, problem](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                if (auto bad = problem(value)) return *bad;
                field(s) = std::string{value};
                return std::nullopt;
            },
            [field](const settings& s) {
                const auto& value = field(const_cast<settings&>(s));
                return value.empty() ? std::string{"none"} : value;
            }};
}

std::optional<std::string> cml_project_name_problem(std::string_view value)
{
    if (value.size() > 200) return "expected a project name of at most 200 characters";
    for (char c : value)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "a project name cannot hold control characters";
    if (!value.empty() && (std::isspace(static_cast<unsigned char>(value.front())) ||
                           std::isspace(static_cast<unsigned char>(value.back()))))
        return "a project name cannot start or end with a space (the project is found by its exact name)";
    return std::nullopt;
}

std::optional<std::string> single_word_problem(std::string_view value)
{
    for (char c : value)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return "expected one word, without spaces";
    return std::nullopt;
}

// CML clones the repository itself; a password or token in the URL would be stored in the settings,
// shown by --check-config and sent to CML in every project creation.
std::optional<std::string> cml_git_url_problem(std::string_view value)
{
    if (value.empty()) return std::nullopt;
    if (auto bad = single_word_problem(value)) return "expected a git URL: " + *bad;
    static const std::string_view schemes[] = {"https://", "http://", "ssh://", "git://"};
    const bool scheme = std::any_of(std::begin(schemes), std::end(schemes),
                                    [&](std::string_view prefix) { return value.rfind(prefix, 0) == 0; });
    const bool scp_form = value.rfind("git@", 0) == 0 && value.find(':') != std::string_view::npos;
    if (!scheme && !scp_form)
        return "expected a git URL such as https://github.com/ORG/REPO.git or git@github.com:ORG/REPO.git";
    const auto authority_start = value.find("://");
    if (authority_start != std::string_view::npos) {
        const std::string_view rest = value.substr(authority_start + 3);
        const std::string_view authority = rest.substr(0, rest.find('/'));
        const auto at = authority.rfind('@');
        if (at != std::string_view::npos && authority.substr(0, at).find(':') != std::string_view::npos)
            return "the URL carries a password or token; give the URL without it and let CML use the git "
                   "credentials configured in the workspace (User Settings > Git)";
    }
    return std::nullopt;
}

// Reads a one-line secret from `file` (ray.auth_token_file, cml.api_key_file) into `into`, or adds
// a problem naming `file_key`; never quotes the file's content.
void read_secret_file(const fs::path& file_path, const std::string& file_key, const std::string& source,
                      std::optional<std::string>& into, std::vector<std::string>& problems)
{
    std::ifstream file{file_path};
    std::string secret{std::istreambuf_iterator<char>{file}, std::istreambuf_iterator<char>{}};
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
    if (!file.good() && !file.eof())
        problems.push_back(file_key + ": cannot read '" + file_path.string() + "' (from " + source +
                           "); give a file the service's user can read");
    else if (secret.empty() || secret.find_first_of("\r\n") != std::string::npos)
        problems.push_back(file_key + ": '" + file_path.string() + "' (from " + source +
                           ") must hold exactly one line: the secret itself");
    else
        into = std::move(secret);
}

// Names and hashes must each be unique: a name is how the audit trail tells people apart, and
// one token under two names would make the caller's identity depend on the order of the list.
std::optional<std::string> duplicate_problem(const std::vector<token_entry>& earlier, const token_entry& entry)
{
    for (const auto& other : earlier) {
        // Case-insensitive: the four-eyes rule treats "Alice" and "alice" as one person.
        if (same_person(other.name, entry.name))
            return "token name '" + entry.name + "' is used twice (names are compared ignoring case); give each "
                   "token its own name, and the same `person` to tokens of one person";
        if (other.sha256_hex == entry.sha256_hex)
            return "'" + entry.name + "' has the same sha256 as '" + other.name +
                   "'; create a separate token for each with 'raydeploy token create'";
    }
    return std::nullopt;
}

std::string lower_hex(std::string_view hex)
{
    std::string out;
    for (char c : hex) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// RAYDEPLOY_AUTH_TOKENS: "name:role:sha256[,name:role:sha256...]", for CI secrets that cannot be
// a file.
std::optional<std::string> apply_token_text(settings& s, std::string_view value)
{
    const std::string form = "; expected NAME:ROLE:SHA256[:PERSON] entries separated by commas (as 'raydeploy token "
                             "create' prints them)";
    if (value.find_first_not_of(" \t") == std::string_view::npos)
        return "is empty" + form + "; unset the variable to use the file's tokens";
    std::vector<token_entry> entries;
    std::size_t index = 0;
    for (std::size_t start = 0; start <= value.size(); ++index) {
        const std::size_t comma = std::min(value.find(',', start), value.size());
        std::string_view item = value.substr(start, comma - start);
        start = comma + 1;
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
        const std::string where = "entry " + std::to_string(index + 1) + ": ";
        const auto first = item.find(':');
        const auto second = first == std::string_view::npos ? first : item.find(':', first + 1);
        const auto third = second == std::string_view::npos ? second : item.find(':', second + 1);
        if (second == std::string_view::npos ||
            (third != std::string_view::npos && item.find(':', third + 1) != std::string_view::npos))
            return where + "'" + std::string{item.substr(0, item.find(':'))} + "...' is not NAME:ROLE:SHA256[:PERSON]" + form;
        token_entry entry;
        entry.name = std::string{item.substr(0, first)};
        const std::string_view role_text = item.substr(first + 1, second - first - 1);
        const std::string_view hash = item.substr(second + 1, third == std::string_view::npos ? third : third - second - 1);
        if (third != std::string_view::npos) {
            entry.person = std::string{item.substr(third + 1)};
            if (auto problem = token_name_problem(entry.person)) return where + "person: " + *problem;
        }
        if (auto problem = token_name_problem(entry.name)) return where + *problem;
        const auto level = parse_role(role_text);
        if (!level)
            return where + "role must be one of " + std::string{role_names()} + ", not '" + std::string{role_text} +
                   "'";
        entry.level = *level;
        if (auto problem = token_hash_problem(hash)) return where + "sha256: " + *problem;
        entry.sha256_hex = lower_hex(hash);
        if (auto problem = duplicate_problem(entries, entry)) return where + *problem;
        entries.push_back(std::move(entry));
    }
    s.auth.tokens = std::move(entries);
    return std::nullopt;
}

bool read_token_list(settings& s, yaml_reader& reader, const YAML::Node& node, const std::string& key)
{
    if (!node.IsSequence()) {
        reader.error(node, key,
                     "expected a list of {name, role, sha256} mappings (the entries 'raydeploy token create' "
                     "prints); use [] for none");
        return false;
    }
    std::vector<token_entry> entries;
    bool ok = true;
    for (std::size_t i = 0; i < node.size(); ++i) {
        const YAML::Node item = node[i];
        const std::string item_key = join_key(key, "[" + std::to_string(i) + "]");
        if (!reader.check_mapping(item, item_key, {"name", "role", "sha256", "person"})) {
            ok = false;
            continue;
        }
        const bool complete = reader.require(item, item_key, "name") & reader.require(item, item_key, "role") &
                              reader.require(item, item_key, "sha256");
        if (!complete) {
            ok = false;
            continue;
        }
        token_entry entry;
        bool item_ok = true;
        // `name` and `person` follow the same rules: they end up in logs, the audit trail and the
        // NAME:ROLE:SHA256:PERSON form.
        const auto read_name = [&](const char* field, std::string& into) {
            const std::string field_key = join_key(item_key, field);
            auto text = reader.string(item[field], field_key);
            if (!text) return false;
            if (auto problem = token_name_problem(*text)) {
                reader.error(item[field], field_key, *problem);
                return false;
            }
            into = std::move(*text);
            return true;
        };
        item_ok = read_name("name", entry.name);
        const std::string role_key = join_key(item_key, "role");
        if (auto role_text = reader.string(item["role"], role_key)) {
            if (auto level = parse_role(*role_text)) {
                entry.level = *level;
            } else {
                reader.error(item["role"], role_key,
                             "expected one of " + std::string{role_names()} + ", got \"" + *role_text + "\"");
                item_ok = false;
            }
        } else {
            item_ok = false;
        }
        const std::string hash_key = join_key(item_key, "sha256");
        if (auto hash = reader.string(item["sha256"], hash_key)) {
            if (auto problem = token_hash_problem(*hash)) {
                reader.error(item["sha256"], hash_key, *problem);
                item_ok = false;
            } else {
                entry.sha256_hex = lower_hex(*hash);
            }
        } else {
            item_ok = false;
        }
        if (item["person"] && !read_name("person", entry.person)) item_ok = false;
        if (item_ok) {
            if (auto problem = duplicate_problem(entries, entry)) {
                reader.error(item, item_key, *problem);
                item_ok = false;
            }
        }
        if (item_ok) entries.push_back(std::move(entry));
        ok = ok && item_ok;
    }
    if (!ok) return false;
    s.auth.tokens = std::move(entries);
    return true;
}

std::string token_list_text(const settings& s)
{
    if (s.auth.tokens.empty()) return "none (open mode: every caller is 'local' with the admin role; loopback only)";
    std::string out;
    for (const auto& entry : s.auth.tokens) {
        if (!out.empty()) out += ", ";
        out += entry.name + " (" + std::string{to_string(entry.level)};
        if (!entry.person.empty()) out += ", person " + entry.person;
        out += ")";
    }
    return out;
}

// executor.pass_env names: the service's own RAYDEPLOY_* variables hold its tokens, and CML_API_KEY
// (the seeds' name, which the service reads as cml.api_key) holds the CML key; none is ever passed,
// whatever the list says.
std::optional<std::string> pass_env_problem(std::string_view name)
{
    const bool identifier = !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front())) &&
                            name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
                                std::string_view::npos;
    if (!identifier)
        return "'" + std::string{name} + "' is not an environment variable name (letters, digits and '_')";
    if (name.rfind("RAYDEPLOY_", 0) == 0 || name == "CML_API_KEY")
        return "'" + std::string{name} + "' is one of the service's own variables, which may hold its tokens; "
               "ansible-playbook never receives them";
    return std::nullopt;
}

std::optional<std::string> apply_pass_env_text(settings& s, std::string_view value)
{
    std::vector<std::string> names;
    for (std::size_t start = 0; start <= value.size();) {
        const std::size_t comma = std::min(value.find(',', start), value.size());
        std::string_view item = value.substr(start, comma - start);
        start = comma + 1;
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
        if (item.empty()) continue;  // "" or a trailing comma: no names
        if (auto problem = pass_env_problem(item)) return *problem + "; give names separated by commas";
        names.emplace_back(item);
    }
    s.executor.pass_env = std::move(names);
    return std::nullopt;
}

bool read_pass_env(settings& s, yaml_reader& reader, const YAML::Node& node, const std::string& key)
{
    auto names = reader.string_list(node, key);
    if (!names) return false;
    bool ok = true;
    for (std::size_t i = 0; i < names->size(); ++i)
        if (auto problem = pass_env_problem((*names)[i])) {
            reader.error(node[i], join_key(key, "[" + std::to_string(i) + "]"), *problem);
            ok = false;
        }
    if (ok) s.executor.pass_env = std::move(*names);
    return ok;
}

std::string pass_env_text(const settings& s)
{
    std::string out;
    for (const auto& name : s.executor.pass_env) out += (out.empty() ? "" : ",") + name;
    return out.empty() ? "none" : out;
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
        t.push_back(list_setting("http.allowed_hosts",
                                 "Host names answered besides 127.0.0.1, localhost and [::1] with the service's port "
                                 "(HOST or HOST:PORT); with tokens, none means any; the variable takes a "
                                 "comma-separated list",
                                 [](settings& s) -> auto& { return s.http.allowed_hosts; }, allowed_host_problem));
        t.push_back(list_setting("http.allowed_origins",
                                 "origins (scheme://host[:port]) whose web pages may call the API (CORS); none: only "
                                 "the service's own; the variable takes a comma-separated list",
                                 [](settings& s) -> auto& { return s.http.allowed_origins; }, allowed_origin_problem));
        t.push_back(number_setting("http.max_connections", "",
                                   "connections served at once; a new one past it gets 503 with Retry-After",
                                   [](settings& s) -> auto& { return s.http.max_connections; }, 1, 1000000,
                                   "a whole number"));
        t.push_back(optional_path_setting("http.tls_cert",
                                          "PEM certificate chain: with http.tls_key, serve HTTPS/WSS only (reloaded "
                                          "on SIGHUP)",
                                          [](settings& s) -> auto& { return s.http.tls_cert; }));
        t.push_back(optional_path_setting("http.tls_key", "PEM private key of http.tls_cert (both or neither)",
                                          [](settings& s) -> auto& { return s.http.tls_key; }));
        t.push_back(number_setting("executions.max_concurrent", "",
                                   "how many executions run at once; more wait as queued",
                                   [](settings& s) -> auto& { return s.executions.max_concurrent; }, 1, 64,
                                   "a whole number"));
        t.push_back(duration_setting("executions.kill_grace",
                                     "how long a cancelled or timed-out run gets after SIGTERM before SIGKILL",
                                     [](settings& s) -> auto& { return s.executions.kill_grace; }));
        t.push_back(number_setting("events.window_bytes", "",
                                   "the newest events kept in memory for WebSocket subscribers (bytes); one further "
                                   "behind reads from the store until it catches up",
                                   [](settings& s) -> auto& { return s.events.window_bytes; }, 64 * 1024,
                                   1024 * 1024 * 1024, "a number of bytes"));
        t.push_back(duration_setting("events.batch_delay", "how long an event may wait to be stored with others",
                                     [](settings& s) -> auto& { return s.events.batch_delay; }));
        t.push_back(duration_setting("events.batch_max_delay",
                                     "how long a batch of fewer than 16 events may wait for more before it is stored",
                                     [](settings& s) -> auto& { return s.events.batch_max_delay; }));
        t.push_back(number_setting("events.max_subscribers", "",
                                   "WebSocket event subscribers at once; a handshake past it gets 503",
                                   [](settings& s) -> auto& { return s.events.max_subscribers; }, 1, 100000,
                                   "a whole number"));
        t.push_back(number_setting("events.page_bytes", "",
                                   "a page of GET .../events stops adding events past this size (bytes)",
                                   [](settings& s) -> auto& { return s.events.page_bytes; }, 1024,
                                   256 * 1024 * 1024, "a number of bytes"));
        t.push_back(number_setting("websocket.max_message", "", "largest message a WebSocket client may send (bytes)",
                                   [](settings& s) -> auto& { return s.websocket.max_message; }, 128,
                                   16 * 1024 * 1024, "a number of bytes"));
        t.push_back(duration_setting("websocket.idle_timeout",
                                     "a silent WebSocket is pinged after half of this and closed after all of it",
                                     [](settings& s) -> auto& { return s.websocket.idle_timeout; }));
        t.push_back({{"auth.tokens", "",
                      "bearer tokens as {name, role, sha256, person?} entries (see 'raydeploy token create'); none: open "
                      "mode, loopback only; the variable takes NAME:ROLE:SHA256[,...]"},
                     [](settings& s, std::string_view value, const fs::path&) { return apply_token_text(s, value); },
                     token_list_text, read_token_list});
        t.push_back(boolean_setting("auth.four_eyes",
                                    "whoever requested a destructive run cannot approve it (with tokens configured)",
                                    [](settings& s) -> auto& { return s.auth.four_eyes; }));
        t.push_back(boolean_setting("metrics.public",
                                    "serve GET /metrics without a token (for a Prometheus that cannot send one); "
                                    "otherwise it needs the viewer role",
                                    [](settings& s) -> auto& { return s.metrics.public_access; }));
        t.push_back(duration_setting("approvals.default_ttl", "how long a grant stays usable when no ttl_s is given",
                                     [](settings& s) -> auto& { return s.approvals.default_ttl; }));
        t.push_back(duration_setting("approvals.max_ttl", "the longest ttl_s an approver may give a grant",
                                     [](settings& s) -> auto& { return s.approvals.max_ttl; }));
        t.push_back({{"executor.pass_env", "",
                      "names of service environment variables ansible-playbook also receives (beyond PATH, HOME, "
                      "LANG, LC_*, TZ, TMPDIR, SSH_AUTH_SOCK, USER, LOGNAME); a YAML list, or NAME,NAME in the variable"},
                     [](settings& s, std::string_view value, const fs::path&) { return apply_pass_env_text(s, value); },
                     pass_env_text, read_pass_env});
        t.push_back(number_setting("retention.keep_days", "",
                                   "finished executions older than this many days are removed with their events and "
                                   "run directories; 0 keeps them forever",
                                   [](settings& s) -> auto& { return s.retention.keep_days; }, 0, 100000,
                                   "a number of days"));
        t.push_back(number_setting("retention.keep_executions", "",
                                   "the most executions kept; the oldest finished ones beyond it are removed; 0 keeps "
                                   "them all",
                                   [](settings& s) -> auto& { return s.retention.keep_executions; }, 0, 1000000000,
                                   "a whole number"));
        t.push_back(boolean_setting("ray.enabled", "poll the Ray dashboard and serve the cluster, jobs and "
                                                   "applications endpoints from what it answers",
                                    [](settings& s) -> auto& { return s.ray.enabled; }));
        t.push_back(url_setting("ray.dashboard_url",
                                "the Ray head's dashboard (Jobs, State and Serve REST APIs), http[s]://HOST:PORT",
                                [](settings& s) -> auto& { return s.ray.dashboard_url; }, false));
        t.push_back(duration_setting("ray.poll_interval", "how often the dashboard is read while it answers",
                                     [](settings& s) -> auto& { return s.ray.poll_interval; }));
        t.push_back(duration_setting("ray.request_timeout", "how long one request to the dashboard may take",
                                     [](settings& s) -> auto& { return s.ray.request_timeout; }));
        t.push_back(ray_token_setting());
        t.push_back(optional_path_setting("ray.auth_token_file",
                                          "file holding the dashboard's bearer token (used when RAYDEPLOY_RAY_TOKEN "
                                          "is not set)",
                                          [](settings& s) -> auto& { return s.ray.auth_token_file; }));
        t.push_back(optional_path_setting("ray.ca_file", "PEM CA bundle an https:// dashboard's certificate must chain to",
                                          [](settings& s) -> auto& { return s.ray.ca_file; }));
        t.push_back(boolean_setting("ray.tls_insecure",
                                    "skip the https:// dashboard's certificate checks (insecure: anyone on the path "
                                    "can read the token and fake the cluster's state)",
                                    [](settings& s) -> auto& { return s.ray.tls_insecure; }));
        t.push_back(number_setting("ray.serve_http_port", "",
                                   "the port Serve's HTTP proxy gets when an application deploy starts Serve (the "
                                   "playbooks' ray_serve_http_port)",
                                   [](settings& s) -> auto& { return s.ray.serve_http_port; }, 1, 65535, "a port"));
        t.push_back({{"ray.cluster_name", "", "the cluster's name in GET /api/v1/cluster/info"},
                     [](settings& s, std::string_view value, const fs::path&) -> std::optional<std::string> {
                         if (value.empty() || value.size() > 128) return "expected a name of 1 to 128 characters";
                         s.ray.cluster_name = std::string{value};
                         return std::nullopt;
                     },
                     [](const settings& s) { return s.ray.cluster_name; }});
        t.push_back(url_setting("monitoring.prometheus_url", "Prometheus to probe (GET /-/healthy); \"\": none",
                                [](settings& s) -> auto& { return s.monitoring.prometheus_url; }, true));
        t.push_back(url_setting("monitoring.node_exporter_url", "node exporter to probe (GET /metrics); \"\": none",
                                [](settings& s) -> auto& { return s.monitoring.node_exporter_url; }, true));
        t.push_back(url_setting("monitoring.grafana_url", "Grafana to probe (GET /api/health); \"\": none",
                                [](settings& s) -> auto& { return s.monitoring.grafana_url; }, true));
        t.push_back(cml_host_setting());
        t.push_back(cml_api_key_setting());
        t.push_back(optional_path_setting("cml.api_key_file",
                                          "file holding the CML API key (used when neither RAYDEPLOY_CML_API_KEY "
                                          "nor CML_API_KEY is set)",
                                          [](settings& s) -> auto& { return s.cml.api_key_file; }));
        t.push_back(text_setting("cml.project_name",
                                 "the CML project the deployment lives in, found by its exact name (created from "
                                 "cml.git_url when missing)",
                                 [](settings& s) -> auto& { return s.cml.project_name; }, cml_project_name_problem));
        t.push_back(text_setting("cml.git_url", "the git repository CML clones when it creates the project",
                                 [](settings& s) -> auto& { return s.cml.git_url; }, cml_git_url_problem));
        t.push_back(text_setting("cml.runtime_identifier",
                                 "the ML Runtime image jobs and applications run in (GET /api/v2/runtimes lists them)",
                                 [](settings& s) -> auto& { return s.cml.runtime_identifier; }, single_word_problem));
        t.push_back(duration_setting("cml.poll_interval",
                                     "how often a creating project, a job run or an application is read while "
                                     "raydeploy waits on it",
                                     [](settings& s) -> auto& { return s.cml.poll_interval; }));
        t.push_back(duration_setting("cml.request_timeout", "how long one request to the CML API may take",
                                     [](settings& s) -> auto& { return s.cml.request_timeout; }));
        t.push_back(optional_path_setting("cml.ca_file",
                                          "PEM CA bundle the workspace's certificate must chain to (self-signed "
                                          "workspaces)",
                                          [](settings& s) -> auto& { return s.cml.ca_file; }));
        t.push_back(boolean_setting("cml.tls_insecure",
                                    "skip the workspace's certificate checks (insecure: anyone on the path can read "
                                    "the API key)",
                                    [](settings& s) -> auto& { return s.cml.tls_insecure; }));
        t.push_back(boolean_setting("cml.wait_for_ray",
                                    "launch-ray-cluster waits until every node is ALIVE in Ray; false: RUNNING "
                                    "applications suffice",
                                    [](settings& s) -> auto& { return s.cml.wait_for_ray; }));
        t.push_back(text_setting("cml.application_url",
                                 "where CML serves an application, {subdomain} standing for its subdomain; \"\": "
                                 "https://{subdomain}.<cml.host's host name>",
                                 [](settings& s) -> auto& { return s.cml.application_url; },
                                 cml_application_url_problem));
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
        if (spec->read_yaml) {
            if (spec->read_yaml(result, reader, node, key)) result.sources[key] = reader.location(node);
            return;
        }
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

std::optional<std::string> normalise_base_url(std::string_view text)
{
    auto parsed = boost::urls::parse_absolute_uri(text);
    if (!parsed) return std::nullopt;
    const auto& url = *parsed;
    const std::string scheme = url.scheme();
    if ((scheme != "http" && scheme != "https") || url.has_userinfo() || url.has_query() || url.has_fragment() ||
        url.encoded_host().empty())
        return std::nullopt;
    if (url.has_port() && (url.port().empty() || url.port_number() == 0)) return std::nullopt;
    std::string out{url.buffer()};
    while (!out.empty() && out.back() == '/') out.pop_back();
    return out;
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
    // The name the issue tracker, Ray's docs and CI secrets use for it.
    if (key == "ray.auth_token") return "RAYDEPLOY_RAY_TOKEN";
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
        // The name the seeds' GitHub Actions and scripts export; raydeploy's own name wins.
        else if (spec.description.key == "cml.api_key")
            if (auto seed = environment.find("CML_API_KEY"); seed != environment.end())
                result.push_back({"cml.api_key", seed->second, "environment variable CML_API_KEY"});
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
    const install_layout& layout = this_install_layout();
    result.catalog = layout.data_dir / "playbooks/checkpoints.yaml";
    result.inventory = layout.data_dir / "playbooks/inventory/local.yml";
    result.state_dir = layout.state_dir;

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
    if (result.approvals.default_ttl > result.approvals.max_ttl)
        problems.push_back("approvals.default_ttl (" + format_duration(result.approvals.default_ttl) + " from " +
                           result.sources.at("approvals.default_ttl") + ") is longer than approvals.max_ttl (" +
                           format_duration(result.approvals.max_ttl) + " from " +
                           result.sources.at("approvals.max_ttl") + "); lower the first or raise the second");
    if (result.events.batch_max_delay < result.events.batch_delay)
        problems.push_back("events.batch_max_delay (" + format_duration(result.events.batch_max_delay) + " from " +
                           result.sources.at("events.batch_max_delay") + ") is shorter than events.batch_delay (" +
                           format_duration(result.events.batch_delay) + " from " +
                           result.sources.at("events.batch_delay") + "); raise the first or lower the second");
    if (result.http.tls_cert.has_value() != result.http.tls_key.has_value()) {
        const char* given = result.http.tls_cert ? "http.tls_cert" : "http.tls_key";
        const char* missing = result.http.tls_cert ? "http.tls_key" : "http.tls_cert";
        problems.push_back(std::string{given} + " (from " + result.sources.at(given) + ") is set but " + missing +
                           " is not; TLS needs both the certificate and its private key: set " + missing +
                           " too, or neither to serve plain HTTP");
    }
    if (result.ray.auth_token_file && !result.ray.auth_token)
        read_secret_file(*result.ray.auth_token_file, "ray.auth_token_file", result.sources.at("ray.auth_token_file"),
                         result.ray.auth_token, problems);
    if (result.cml.api_key_file && !result.cml.api_key) {
        const auto& source = result.sources.at("cml.api_key_file");
        read_secret_file(*result.cml.api_key_file, "cml.api_key_file", source, result.cml.api_key, problems);
        // The file's content goes through the same check as the variables' (one printable word).
        if (result.cml.api_key) {
            std::string key = std::move(*result.cml.api_key);
            result.cml.api_key.reset();
            if (auto problem = find_setting("cml.api_key")->apply(result, key, {}))
                problems.push_back("cml.api_key_file: the key in '" + result.cml.api_key_file->string() + "' (from " +
                                   source + ") " + *problem);
            else
                result.sources["cml.api_key"] = "cml.api_key_file";
        }
    }
    if (result.cml.configured() && !result.cml.api_key)
        problems.push_back("cml.host is set (from " + result.sources.at("cml.host") +
                           ") but no CML API key is: set RAYDEPLOY_CML_API_KEY (or CML_API_KEY) in the service's "
                           "environment, or name a file holding it in cml.api_key_file; or set cml.host to \"\" when "
                           "CML is not used");
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
    if (value.state_dir.empty())
        throw config_error{"state_dir: no default here (neither STATE_DIRECTORY, XDG_STATE_HOME nor a home directory "
                           "is set); give one with --state-dir DIR"};
    if (!fs::is_regular_file(value.inventory, ec))
        throw config_error{"inventory: file '" + value.inventory.string() + "' (from " +
                           value.sources.at("inventory") +
                           ") does not exist; give an Ansible inventory with --inventory FILE"};
    if (fs::exists(value.state_dir, ec) && !fs::is_directory(value.state_dir, ec))
        throw config_error{"state_dir: '" + value.state_dir.string() + "' (from " + value.sources.at("state_dir") +
                           ") exists and is not a directory; choose another --state-dir"};
    // Named here so a typo fails before the state store is opened; their content is checked when
    // the service builds its TLS context.
    for (const auto& [key, file] : {std::pair{"http.tls_cert", value.http.tls_cert}, std::pair{"http.tls_key", value.http.tls_key}}) {
        if (!file) continue;
        std::ifstream probe{*file};
        if (!fs::is_regular_file(*file, ec) || !probe)
            throw config_error{std::string{key} + ": '" + file->string() + "' (from " + value.sources.at(key) +
                               ") is not a readable file; give the path of a PEM file the service's user can read"};
    }
}

void check_listen_security(const settings& value)
{
    if (value.listen.is_loopback() || !value.auth.tokens.empty()) return;
    throw config_error{"listen: " + value.listen.to_string() + " (from " + value.sources.at("listen") +
                       ") is not a loopback address and no tokens are configured, so anyone who can reach it could "
                       "run and approve deployments; create a token with 'raydeploy token create --name NAME --role "
                       "admin' and put the entry it prints under auth.tokens in the config file (or in "
                       "RAYDEPLOY_AUTH_TOKENS), or listen on 127.0.0.1"};
}

std::string setting_value_text(const settings& value, std::string_view key)
{
    const setting_spec* spec = find_setting(key);
    return spec ? spec->text(value) : std::string{};
}

}  // namespace raydeploy
