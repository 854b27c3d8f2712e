// The service's YAML settings file (--config), read as `raydeploy serve` reads it: every problem
// must come back as a config_error naming the key, never as a crash or another exception.
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/config/settings.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

RAYDEPLOY_FUZZ_TARGET(settings)
{
    static const raydeploy::test::temp_dir scratch{"raydeploy-fuzz"};
    const auto file = scratch.write_file("raydeploy.yaml", raydeploy::fuzz::as_text(data, size));
    try {
        const raydeploy::settings loaded = raydeploy::load_settings(file, {}, {});
        // What --check-config prints for every setting.
        for (const auto& description : raydeploy::setting_descriptions())
            (void)raydeploy::setting_value_text(loaded, description.key);
    } catch (const raydeploy::config_error&) {
    }
    return 0;
}
