// `raydeploy checkpoints`: the catalog as a readable table or as the API's JSON document.
#include "raydeploy/api/dto.hpp"
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/cli/cli.hpp"
#include "raydeploy/cli/commands.hpp"
#include "raydeploy/util/duration.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <iomanip>
#include <ostream>

namespace raydeploy::cli {

namespace {

void print_table(std::ostream& out, const checkpoint_catalog& catalog)
{
    std::size_t name_width = 4;
    std::size_t kind_width = 4;
    for (const auto& item : catalog.checkpoints()) {
        name_width = std::max(name_width, item.name.size());
        kind_width = std::max(kind_width, to_string(item.kind).size());
    }
    out << std::left << std::setw(3) << "#" << std::setw(static_cast<int>(name_width) + 2) << "NAME"
        << std::setw(static_cast<int>(kind_width) + 2) << "KIND" << std::setw(10) << "APPROVAL" << std::setw(13)
        << "DESTRUCTIVE" << std::setw(12) << "DEPLOYMENT" << std::setw(9) << "TIMEOUT"
        << "DESCRIPTION\n";
    for (const auto& item : catalog.checkpoints()) {
        out << std::setw(3) << item.order << std::setw(static_cast<int>(name_width) + 2) << item.name
            << std::setw(static_cast<int>(kind_width) + 2) << to_string(item.kind) << std::setw(10)
            << (item.approval_required ? "required" : "-") << std::setw(13) << (item.destructive ? "YES" : "-")
            << std::setw(12) << (item.in_deployment ? "yes" : "own run") << std::setw(9) << format_duration(item.timeout)
            << item.description << "\n";
    }
    out << "\n" << catalog.checkpoints().size() << " checkpoints from " << catalog.source().string() << "\n";
}

}  // namespace

int checkpoints_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)
{
    auto options = settings_options({"catalog"});
    options.add_options()("format", boost::program_options::value<std::string>()->default_value("text"),
                          "text (a table) or json (the document GET /api/v1/checkpoints returns)")(
        "help,h", "show this help");
    const auto vm = parse_options("checkpoints", options, args, err);
    if (!vm) return exit_usage;
    if (vm->count("help")) {
        print_command_help(out, "checkpoints", "[--catalog FILE] [--format text|json]",
                           "Lists the checkpoints of the catalog in order, with their approval policy.", options);
        return exit_ok;
    }
    const std::string format = (*vm)["format"].as<std::string>();
    if (format != "text" && format != "json") {
        print_error(err, "checkpoints: --format must be text or json, not '" + format + "'");
        return exit_usage;
    }
    const checkpoint_catalog catalog = load_catalog(settings_from(*vm).catalog);
    if (format == "json")
        out << boost::json::serialize(api::checkpoint_list_json(catalog)) << "\n";
    else
        print_table(out, catalog);
    return exit_ok;
}

}  // namespace raydeploy::cli
