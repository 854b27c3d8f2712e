// Catalog loading: the shipped catalog, and every validation rule with its located message.
#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/util/errors.hpp"

#include "support/test_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace std::chrono_literals;
using raydeploy::config_error;
using raydeploy::load_catalog;
using raydeploy::test::temp_dir;

namespace {

// A catalog directory with playbooks a.yml and b.yml; `entries` is the text under "checkpoints:".
std::filesystem::path write_catalog(temp_dir& dir, const std::string& entries)
{
    dir.write_file("a.yml", "- hosts: all\n  tasks: []\n");
    dir.write_file("b.yml", "- hosts: all\n  tasks: []\n");
    return dir.write_file("catalog.yaml", "checkpoints:\n" + entries);
}

std::string error_for(const std::string& entries)
{
    temp_dir dir;
    const auto file = write_catalog(dir, entries);
    try {
        load_catalog(file);
    } catch (const config_error& e) {
        return e.what();
    }
    BOOST_FAIL("expected a config_error for:\n" + entries);
    return {};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string valid_entry = "  - name: first\n"
                                "    playbook: a.yml\n"
                                "    description: First step\n"
                                "    timeout: 90\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(catalog)

BOOST_AUTO_TEST_CASE(shipped_catalog_has_the_six_checkpoints_in_order)
{
    const auto catalog = load_catalog(std::filesystem::path{RAYDEPLOY_SOURCE_DIR} / "playbooks/checkpoints.yaml");
    const std::vector<std::string> expected = {"prerequisites-check", "docker-installation", "cleanup-existing",
                                               "ray-deployment", "monitoring-deployment", "final-validation"};
    BOOST_TEST_REQUIRE(catalog.checkpoints().size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& item = catalog.checkpoints()[i];
        BOOST_TEST_CONTEXT(expected[i])
        {
            BOOST_TEST(item.name == expected[i]);
            BOOST_TEST(item.order == static_cast<int>(i) + 1);
            BOOST_TEST(std::filesystem::is_regular_file(item.playbook));
            BOOST_TEST(!item.description.empty());
            BOOST_TEST(item.timeout.count() > 0);
            BOOST_TEST(item.approval_required == (item.name == "docker-installation" || item.name == "cleanup-existing"));
            BOOST_TEST(item.destructive == (item.name == "cleanup-existing"));
        }
    }
    BOOST_TEST(!catalog.find("cleanup-existing")->impact_summary.empty());
    BOOST_TEST(catalog.find("nope") == nullptr);
}

BOOST_AUTO_TEST_CASE(reads_every_field)
{
    temp_dir dir;
    const auto catalog = load_catalog(write_catalog(dir, valid_entry +
                                                             "  - name: wipe-2\n"
                                                             "    playbook: b.yml\n"
                                                             "    description: Wipes\n"
                                                             "    approval_required: true\n"
                                                             "    destructive: true\n"
                                                             "    impact_summary: [\"deletes x\", \"stops y\"]\n"
                                                             "    timeout: 1h30m\n"));
    BOOST_TEST_REQUIRE(catalog.checkpoints().size() == 2u);
    const auto& first = catalog.checkpoints()[0];
    BOOST_TEST(first.timeout == 90s);
    BOOST_TEST(first.approval_required == false);
    BOOST_TEST(first.impact_summary.empty());
    BOOST_TEST(first.playbook == dir.path() / "a.yml");
    const auto& second = catalog.checkpoints()[1];
    BOOST_TEST(second.order == 2);
    BOOST_TEST(second.destructive);
    BOOST_TEST(second.timeout == 90min);
    BOOST_TEST(second.impact_summary == (std::vector<std::string>{"deletes x", "stops y"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(names_must_be_valid_and_unique)
{
    BOOST_TEST(contains(error_for("  - {name: Bad_Name, playbook: a.yml, description: d, timeout: 1}\n"),
                        ":2:12: checkpoints[0].name: \"Bad_Name\" is not a valid name"));
    BOOST_TEST(contains(error_for("  - {name: -lead, playbook: a.yml, description: d, timeout: 1}\n"), "is not a valid name"));
    BOOST_TEST(contains(error_for(valid_entry + valid_entry), ":6:11: checkpoints[1].name: \"first\" is used by an earlier checkpoint"));
    BOOST_TEST(raydeploy::is_valid_checkpoint_name("ray-deployment"));
    BOOST_TEST(raydeploy::is_valid_checkpoint_name("0day"));
    BOOST_TEST(!raydeploy::is_valid_checkpoint_name(""));
    BOOST_TEST(!raydeploy::is_valid_checkpoint_name("a/b"));
    BOOST_TEST(!raydeploy::is_valid_checkpoint_name(std::string(65, 'a')));
}

BOOST_AUTO_TEST_CASE(playbooks_must_exist)
{
    const auto message = error_for("  - {name: x, playbook: missing.yml, description: d, timeout: 1}\n");
    BOOST_TEST(contains(message, ":2:25: checkpoints[0].playbook: playbook file '"));
    BOOST_TEST(contains(message, "missing.yml' does not exist"));
}

BOOST_AUTO_TEST_CASE(timeouts_must_parse)
{
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: soon}\n"),
                        "checkpoints[0].timeout: expected a duration"));
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: 0}\n"),
                        "checkpoints[0].timeout: must be at least one second"));
}

BOOST_AUTO_TEST_CASE(required_unknown_and_mistyped_keys)
{
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, timeout: 1}\n"), "checkpoints[0].description: required key is missing"));
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: 1, destructiv: true}\n"),
                        "checkpoints[0].destructiv: unknown key; did you mean 'destructive'?"));
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: 1, approval_required: maybe}\n"),
                        "checkpoints[0].approval_required: expected true or false, got \"maybe\""));
    BOOST_TEST(contains(error_for("  - {name: x, playbook: a.yml, description: d, timeout: 1, impact_summary: text}\n"),
                        "checkpoints[0].impact_summary: expected a list of strings"));
}

BOOST_AUTO_TEST_CASE(destructive_checkpoints_require_approval)
{
    BOOST_TEST(contains(error_for("  - {name: wipe, playbook: a.yml, description: d, timeout: 1, destructive: true}\n"),
                        "\"wipe\" is destructive but has approval_required: false"));
}

BOOST_AUTO_TEST_CASE(empty_or_misshapen_catalogs)
{
    BOOST_TEST(contains(error_for(" []\n"), "checkpoints: expected a non-empty list"));
    temp_dir dir;
    for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
             {"", "the catalog is empty"},
             {"steps: []\n", "unknown key"},
             {"- name: x\n", "expected a mapping"}}) {
        BOOST_TEST_CONTEXT(text)
        {
            try {
                load_catalog(dir.write_file("c.yaml", text));
                BOOST_FAIL("expected a config_error");
            } catch (const config_error& e) {
                BOOST_TEST(contains(e.what(), expected));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(all_problems_in_one_report)
{
    const auto message = error_for("  - {name: BAD, playbook: nope.yml, description: d, timeout: x}\n");
    BOOST_TEST(contains(message, ".name:"));
    BOOST_TEST(contains(message, ".playbook:"));
    BOOST_TEST(contains(message, ".timeout:"));
}

BOOST_AUTO_TEST_SUITE_END()
