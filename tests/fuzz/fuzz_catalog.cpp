// The checkpoint catalog and the CML files it names, read as the service reads them at start-up:
// the first byte picks the file (the catalog, a CML jobs file, a CML Ray cluster file), the rest is
// its content. The catalog is read in a directory that holds the shipped playbooks and CML
// files, so the names it gives can be found. Every problem must come back as a config_error.
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/cml/cml_config.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

#include <system_error>

namespace fs = std::filesystem;

namespace {

// A private directory with a link to everything beside the shipped catalogs.
const raydeploy::test::temp_dir& catalog_directory()
{
    static const raydeploy::test::temp_dir directory{"raydeploy-fuzz"};
    static const bool linked = [] {
        for (const char* shipped : {RAYDEPLOY_SOURCE_DIR "/playbooks", RAYDEPLOY_SOURCE_DIR "/cml"})
            for (const auto& entry : fs::directory_iterator{shipped}) {
                std::error_code exists;
                fs::create_symlink(entry.path(), directory.path() / entry.path().filename(), exists);
            }
        return true;
    }();
    (void)linked;
    return directory;
}

}  // namespace

RAYDEPLOY_FUZZ_TARGET(catalog)
{
    if (size == 0) return 0;
    static const char* const names[] = {"fuzz-checkpoints.yaml", "fuzz-jobs.yaml", "fuzz-cluster.yaml"};
    const unsigned which = data[0] % 3;
    const fs::path file = catalog_directory().write_file(names[which], raydeploy::fuzz::as_text(data + 1, size - 1));
    try {
        if (which == 0)
            (void)raydeploy::load_catalog(file);
        else if (which == 1)
            (void)raydeploy::cml::load_jobs_config(file);
        else
            (void)raydeploy::cml::load_ray_cluster_config(file);
    } catch (const raydeploy::config_error&) {
    }
    return 0;
}
