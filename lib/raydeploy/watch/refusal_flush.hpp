// Writes the counts of unauthenticated refusals that the audit trail folds into per-address,
// per-minute windows (audit_log::record_unauthenticated), once a window is over. The service
// writes what is left at shutdown itself.
#pragma once

#include "raydeploy/watch/component.hpp"

namespace raydeploy {
class audit_log;
}

namespace raydeploy::watch {

class refusal_flush final : public component {
public:
    // `audit` must outlive the component.
    refusal_flush(net::any_io_executor executor, audit_log& audit);

    std::string_view name() const override { return "audit_refusal_flush"; }
    net::awaitable<void> run() override;
    void cancel() override { sleeper_.cancel(); }

private:
    audit_log& audit_;
    sleeper sleeper_;
};

}  // namespace raydeploy::watch
