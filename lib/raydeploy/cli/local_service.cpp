#include "raydeploy/cli/local_service.hpp"

#include "raydeploy/app/service.hpp"
#include "raydeploy/auth/tokens.hpp"
#include "raydeploy/util/log.hpp"
#include "raydeploy/util/private_files.hpp"

namespace raydeploy::cli {
namespace {

settings in_process(settings config, const std::string& token, const std::string& person)
{
    // Only this process talks to it: a free loopback port, and one admin token that only this
    // process holds, named after the person running the command. Not open mode: any page in a
    // browser on this machine could reach an open-mode port while the command runs. The
    // four-eyes rule needs two people, and the state directory is held by one.
    // The service's own log would interleave with the command's output, so it only speaks up
    // for errors; what goes wrong in a run reaches the command through the API.
    config.listen = listen_address{"127.0.0.1", 0};
    restrict_umask();  // as `serve` does: the state it writes is the same

    config.auth.tokens = {token_entry{person, role::admin, sha256_hex(token), {}}};
    config.auth.four_eyes = false;
    config.http.allowed_hosts.clear();
    config.http.allowed_origins.clear();
    // Loopback inside one process: a certificate for the public name would not match 127.0.0.1.
    config.http.tls_cert.reset();
    config.http.tls_key.reset();
    if (config.log_level < log::level::error) config.log_level = log::level::error;
    log::configure(config.log_level, config.log_format);
    return config;
}

}  // namespace

local_service::local_service(const settings& config, const std::string& person)
    : token_{generate_token()},
      service_{std::make_unique<service>(in_process(config, token_, person), false)},
      url_{"http://" + service_->endpoint().to_string()},
      thread_{[this] { service_->run(); }}
{
}

local_service::~local_service()
{
    service_->stop();
    if (thread_.joinable()) thread_.join();
}

}  // namespace raydeploy::cli
