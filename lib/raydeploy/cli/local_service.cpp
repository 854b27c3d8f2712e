#include "raydeploy/cli/local_service.hpp"

#include "raydeploy/app/service.hpp"
#include "raydeploy/util/log.hpp"

namespace raydeploy::cli {
namespace {

settings in_process(settings config)
{
    // Only this process talks to it: a free loopback port, and no tokens, since the user already
    // holds the state directory itself. The service's own log would interleave with the command's
    // output (and its warnings are about serving others, such as open mode), so it only speaks up
    // for errors; what goes wrong in a run reaches the command through the API.
    config.listen = listen_address{"127.0.0.1", 0};
    config.auth.tokens.clear();
    // Loopback inside one process: a certificate for the public name would not match 127.0.0.1.
    config.http.tls_cert.reset();
    config.http.tls_key.reset();
    if (config.log_level < log::level::error) config.log_level = log::level::error;
    log::configure(config.log_level, config.log_format);
    return config;
}

}  // namespace

local_service::local_service(const settings& config)
    : service_{std::make_unique<service>(in_process(config), false)},
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
