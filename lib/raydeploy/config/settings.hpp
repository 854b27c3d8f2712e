// The service's settings: one validated struct built from embedded defaults, an optional YAML
// file, RAYDEPLOY_* environment variables and command-line flags, in that rising precedence.
#pragma once

#include "raydeploy/auth/token_entry.hpp"
#include "raydeploy/events/event_log_options.hpp"
#include "raydeploy/util/log.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace raydeploy {

struct listen_address {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;  // 0 lets the kernel pick a free port

    // "127.0.0.1:8000", or "[::1]:8000" for IPv6.
    std::string to_string() const;
    bool is_loopback() const;
};

// An http:// or https:// base URL of a service raydeploy calls (Ray's dashboard, Prometheus):
// scheme, host and optional port, no user info, query or fragment; a path only as a prefix. Returns
// it without a trailing '/', or nullopt.
std::optional<std::string> normalise_base_url(std::string_view text);

// Parses "HOST:PORT" where HOST is an IPv4 address, a bracketed IPv6 address or "localhost".
std::optional<listen_address> parse_listen_address(std::string_view text);

struct http_settings {
    std::size_t body_limit = 1024 * 1024;
    std::size_t header_limit = 8 * 1024;
    // How long an open connection may wait before a request starts.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds{60}};
    // How long a request may take to arrive in full once it has started (slow senders).
    std::chrono::milliseconds read_timeout{std::chrono::seconds{30}};
    std::chrono::milliseconds write_timeout{std::chrono::seconds{30}};
    // How long SIGTERM waits for in-flight requests before closing their connections.
    std::chrono::milliseconds shutdown_grace{std::chrono::seconds{10}};
    // Host header values answered besides 127.0.0.1, localhost and [::1] with the service's port
    // (HOST or HOST:PORT). In open mode only these are; with tokens an empty list means any.
    std::vector<std::string> allowed_hosts;
    // Origins (scheme://host[:port]) whose pages may call the API across sites, with CORS.
    std::vector<std::string> allowed_origins;
    // Connections served at once; past it a new connection gets 503 (see http_server).
    std::size_t max_connections = 1024;
    // Both set: HTTPS and WSS only, with this PEM certificate chain and private key (both or neither).
    std::optional<std::filesystem::path> tls_cert;
    std::optional<std::filesystem::path> tls_key;
};

struct execution_settings {
    std::size_t max_concurrent = 4;
    std::chrono::milliseconds kill_grace{std::chrono::seconds{10}};
};

struct event_settings {
    // The newest events' text kept in memory for live subscribers; one that falls further behind
    // reads from the store until it is back in the window.
    // Whole runs of the 300-task x 20-host fixture (about 13 MB of events) fit, and so does half a
    // second of a 100,000 events/s burst: below that, a burst pushed subscribers out of the window
    // and into store reads on the service's thread, which halved delivery (docs/benchmarks.md).
    std::size_t window_bytes = 32 * 1024 * 1024;
    std::chrono::milliseconds batch_delay = event_log_options{}.batch_delay;
    // How long a batch of fewer than event_log_options::batch_min events waits for more.
    std::chrono::milliseconds batch_max_delay = event_log_options{}.batch_max_delay;
    // WebSocket subscribers at once; past it the handshake gets 503.
    std::size_t max_subscribers = 256;
    // A page of GET .../events stops adding events once its body is this large.
    std::size_t page_bytes = 1024 * 1024;
};

struct websocket_settings {
    std::size_t max_message = 64 * 1024;
    std::chrono::milliseconds idle_timeout{std::chrono::seconds{60}};
};

struct auth_settings {
    // Empty: open mode, where every caller is "local" with the admin role; allowed on loopback only
    // (check_listen_security).
    std::vector<token_entry> tokens;
    // Whoever requested a run of a destructive checkpoint cannot approve it (with tokens configured).
    bool four_eyes = true;
};

struct approval_settings {
    // How long a grant stays usable when the approver gives no ttl_s, and the most it may ask for.
    std::chrono::milliseconds default_ttl{std::chrono::hours{1}};
    std::chrono::milliseconds max_ttl{std::chrono::hours{24}};
};

struct executor_settings {
    // Names of service environment variables ansible-playbook also receives, beyond PATH, HOME,
    // locale, TZ, TMPDIR, SSH_AUTH_SOCK, USER and LOGNAME (build_child_environment).
    std::vector<std::string> pass_env;
};

struct retention_settings {
    // Finished executions older than this many days are removed; 0 keeps them forever.
    std::size_t keep_days = 90;
    // Beyond this many executions the oldest finished ones are removed; 0 keeps them all.
    std::size_t keep_executions = 10000;
};

// The Ray cluster the service watches (watch/ray_monitor) and operates (jobs, Serve applications).
struct ray_settings {
    // false: nothing polls Ray; the cluster endpoints answer from an empty snapshot (source DISABLED).
    bool enabled = true;
    // The head's dashboard, where Ray serves its Jobs, State and Serve REST APIs: http[s]://HOST:PORT.
    std::string dashboard_url = "http://127.0.0.1:8265";
    std::chrono::milliseconds poll_interval{std::chrono::seconds{10}};
    // How long one request to the dashboard may take; a slower answer counts as a failure.
    std::chrono::milliseconds request_timeout{std::chrono::seconds{5}};
    // Ray's token authentication (Ray 2.52+, on by default from 2.61), sent as a bearer token. Only
    // from RAYDEPLOY_RAY_TOKEN or the file ray.auth_token_file names: never in the config file.
    std::optional<std::string> auth_token;
    std::optional<std::filesystem::path> auth_token_file;
    // https:// dashboards: the CA bundle their certificate chain must lead to (none: the system's).
    std::optional<std::filesystem::path> ca_file;
    // https:// dashboards: skip certificate and host name checks (logged as a warning at start).
    bool tls_insecure = false;
    // The port Serve's HTTP proxy listens on when raydeploy's applications API starts Serve (the
    // playbooks' ray_serve_http_port); once Serve runs, the port it already has is kept.
    std::uint16_t serve_http_port = 8000;
    // Shown by GET /api/v1/cluster/info.
    std::string cluster_name = "ray-cluster";
};

// The monitoring endpoints monitoring-deployment configures, probed with the Ray poll for
// cluster_health.monitoring. An empty URL is not probed.
struct monitoring_settings {
    std::string prometheus_url = "http://127.0.0.1:9090";
    std::string node_exporter_url = "http://127.0.0.1:9100";
    std::string grafana_url;  // Grafana is off by default in native mode (Debian does not ship it)
};

// The Cloudera Machine Learning (CML, also "CAI") workspace the CML checkpoint kinds drive through
// its API v2 (cml/cml_client.hpp).
struct cml_settings {
    // https://WORKSPACE, the workbench's base URL (API paths start at /api/v2); "" when CML is not
    // configured. http:// only on a loopback address (a test's fake), where the key does not travel.
    std::string host;
    // Sent as `Authorization: Bearer KEY`. Only from RAYDEPLOY_CML_API_KEY, CML_API_KEY (the seeds'
    // name) or the file api_key_file names: never from the config file, never shown or logged.
    std::optional<std::string> api_key;
    std::optional<std::filesystem::path> api_key_file;
    // The CML project the deployment lives in, found by exact name; created from git_url when missing.
    std::string project_name;
    std::string git_url;
    // The ML Runtime image jobs and applications run in (CML refuses them without one in runtime projects).
    std::string runtime_identifier;
    // How often a creating project, a job run or an application is read while raydeploy waits on it.
    std::chrono::milliseconds poll_interval{std::chrono::seconds{10}};
    // How long one request to the API may take; slower counts as a failure (retried).
    std::chrono::milliseconds request_timeout{std::chrono::seconds{30}};
    // https:// workspaces: the CA bundle their certificate chain must lead to (none: the system's).
    std::optional<std::filesystem::path> ca_file;
    // Skip certificate and host name checks (logged as a warning at start).
    bool tls_insecure = false;
    // launch-ray-cluster waits for every node to be ALIVE in Ray, not only for RUNNING applications.
    bool wait_for_ray = true;
    // Where CML serves an application, with {subdomain} for its subdomain; "" means
    // https://{subdomain}.<cml.host's host name>, CML's own scheme. The Ray monitor reads the head's
    // dashboard there.
    std::string application_url;

    bool configured() const { return !host.empty(); }
};

struct metrics_settings {
    // GET /metrics without a token (for a Prometheus that cannot send one); else the viewer role.
    bool public_access = false;
};

struct settings {
    listen_address listen;
    // load_settings starts these from the installation or checkout the binary belongs to
    // (config/install_layout.hpp), never from the current directory.
    std::filesystem::path state_dir = "var";
    std::filesystem::path catalog = "playbooks/checkpoints.yaml";
    std::filesystem::path inventory = "playbooks/inventory/local.yml";
    log::level log_level = log::level::info;
    log::format log_format = log::format::text;
    std::filesystem::path ansible_playbook;  // empty: look for it (see find_ansible_playbook)
    http_settings http;
    execution_settings executions;
    event_settings events;
    websocket_settings websocket;
    auth_settings auth;
    approval_settings approvals;
    executor_settings executor;
    retention_settings retention;
    ray_settings ray;
    monitoring_settings monitoring;
    cml_settings cml;
    metrics_settings metrics;

    std::optional<std::filesystem::path> config_file;
    // Where each setting's value came from ("default", "FILE:LINE", "RAYDEPLOY_LISTEN", "--listen"),
    // keyed by the setting's dotted name; used by --check-config and in error messages.
    std::map<std::string, std::string> sources;
};

// One value given outside the YAML file: `key` is the dotted setting name, `source` how the user
// gave it ("--listen", "RAYDEPLOY_LISTEN").
struct setting_override {
    std::string key;
    std::string value;
    std::string source;
};

// The documented settings, in the order `--check-config` prints them.
struct setting_description {
    std::string_view key;
    std::string_view flag;  // empty when the setting has no flag of its own
    std::string_view help;
};
const std::vector<setting_description>& setting_descriptions();

// "http.body_limit" -> "RAYDEPLOY_HTTP_BODY_LIMIT"; "ray.auth_token" -> "RAYDEPLOY_RAY_TOKEN".
// (cml.api_key is also read from CML_API_KEY when RAYDEPLOY_CML_API_KEY is not set.)
std::string environment_variable_for(std::string_view key);

// Picks the RAYDEPLOY_* variables that name settings out of an environment.
std::vector<setting_override> environment_overrides(const std::map<std::string, std::string>& environment);
std::map<std::string, std::string> current_environment();

// Builds the settings. `config_file` is the --config flag or RAYDEPLOY_CONFIG. Relative paths in
// the file are resolved from the file's directory; relative paths given as flags or environment
// variables from the current directory. Throws config_error listing every problem found.
settings load_settings(const std::optional<std::filesystem::path>& config_file,
                       const std::vector<setting_override>& environment,
                       const std::vector<setting_override>& flags);

// Checks what `serve` needs beyond well-formed values: the inventory file exists. (The catalog is
// validated by loading it.) Throws config_error naming the setting and where it came from.
void check_serve_paths(const settings& value);

// Refuses open mode off loopback: without tokens anyone who can reach the port could run and
// approve deployments. Throws config_error saying how to create a token.
void check_listen_security(const settings& value);

// The value of a setting as text, for --check-config. Tokens appear as names and roles only; secrets
// (ray.auth_token, cml.api_key) as "set" or not.
std::string setting_value_text(const settings& value, std::string_view key);

}  // namespace raydeploy
