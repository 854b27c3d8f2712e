// The service's YAML settings file (--config), read as `raydeploy serve` reads it: every problem
// must come back as a config_error naming the key, never as a crash or another exception.
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/config/settings.hpp"
#include "raydeploy/util/errors.hpp"

RAYDEPLOY_FUZZ_TARGET(settings)
{
    const auto file = raydeploy::fuzz::scratch_directory() / "raydeploy.yaml";
    raydeploy::fuzz::write_file(file, raydeploy::fuzz::as_text(data, size));
    try {
        const raydeploy::settings loaded = raydeploy::load_settings(file, {}, {});
        // What --check-config prints for every setting.
        for (const auto& description : raydeploy::setting_descriptions())
            (void)raydeploy::setting_value_text(loaded, description.key);
    } catch (const raydeploy::config_error&) {
    }
    return 0;
}
