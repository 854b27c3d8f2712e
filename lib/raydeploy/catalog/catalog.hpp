// The checkpoint catalog: which checkpoints exist, in which order, which playbook each runs and
// what approval policy guards it. Loaded from YAML and validated in full before use.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy {

struct checkpoint {
    std::string name;
    int order = 0;  // 1-based position in the catalog
    std::filesystem::path playbook;  // absolute, resolved from the catalog file's directory
    std::string description;
    bool approval_required = false;
    bool destructive = false;
    std::vector<std::string> impact_summary;
    std::chrono::seconds timeout{0};
};

class checkpoint_catalog {
public:
    checkpoint_catalog(std::filesystem::path source, std::vector<checkpoint> checkpoints);

    const std::filesystem::path& source() const { return source_; }
    const std::vector<checkpoint>& checkpoints() const { return checkpoints_; }
    // nullptr when no checkpoint has that name.
    const checkpoint* find(std::string_view name) const;

private:
    std::filesystem::path source_;
    std::vector<checkpoint> checkpoints_;
};

// True for names matching ^[a-z0-9][a-z0-9-]*$ (and at most 64 characters).
bool is_valid_checkpoint_name(std::string_view name);

// Reads and validates a catalog file. Throws config_error listing every problem with its
// FILE:LINE:COLUMN: unknown or missing keys, wrong types, bad or duplicate names, playbooks that
// do not exist, unparsable timeouts, a destructive checkpoint that does not require approval.
checkpoint_catalog load_catalog(const std::filesystem::path& file);

}  // namespace raydeploy
