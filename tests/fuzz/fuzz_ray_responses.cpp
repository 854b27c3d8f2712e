// Answers of the Ray dashboard, as the Ray monitor reads them on every poll: two polls of the five
// endpoints (version, cluster status, nodes, jobs, Serve applications), their bodies separated by
// lines of "----". Each poll is parsed and assembled into a snapshot, the second carried forward
// from the first and compared with it (the cluster.* events), persisted and read back (a restart),
// and shown in every view of the API. Serve's answer also goes through the Serve config reader the
// applications writer uses, and the text of a Ray error through the summary errors quote.
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/ray/dashboard_client.hpp"
#include "raydeploy/ray/serve_config.hpp"
#include "raydeploy/util/json_input.hpp"
#include "raydeploy/watch/ray_snapshot.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

namespace json = boost::json;
using namespace raydeploy;
using namespace raydeploy::watch;

namespace {

constexpr std::size_t endpoints = 5;
using poll_bodies = std::array<std::string_view, endpoints>;

std::array<poll_bodies, 2> split_polls(std::string_view input)
{
    std::array<poll_bodies, 2> polls{};
    constexpr std::string_view separator = "\n----\n";
    for (std::size_t part = 0; part < 2 * endpoints; ++part) {
        const std::size_t end = std::min(input.find(separator), input.size());
        polls[part / endpoints][part % endpoints] = input.substr(0, end);
        input.remove_prefix(std::min(input.size(), end + separator.size()));
    }
    return polls;
}

ray_snapshot assemble(const poll_bodies& bodies, std::chrono::system_clock::time_point at)
{
    return assemble_snapshot(at, parse_version(bodies[0]), parse_cluster_status(bodies[1]), parse_nodes(bodies[2]),
                             parse_jobs(bodies[3]), parse_serve_applications(bodies[4]));
}

void show(const ray_snapshot& snapshot)
{
    (void)json::serialize(nodes_view(snapshot, {{"fuzz-worker", {"app-1", "fuzz-worker"}}}));
    (void)json::serialize(capacity_view(snapshot));
    (void)json::serialize(applications_view(snapshot));
    (void)count_nodes(snapshot);
    (void)cluster_resources(snapshot);
    if (snapshot.jobs)
        for (const auto& job : *snapshot.jobs) {
            (void)json::serialize(job_view(job, true));
            (void)json::serialize(job_view(job, false));
        }
    if (snapshot.serve)
        for (const auto& app : snapshot.serve->applications) (void)json::serialize(application_detail_view(app));
}

}  // namespace

RAYDEPLOY_FUZZ_TARGET(ray_responses)
{
    const std::string_view input = fuzz::as_text(data, size);
    const auto polls = split_polls(input);
    const auto start = std::chrono::system_clock::time_point{std::chrono::seconds{1'700'000'000}};
    const ray_snapshot first = assemble(polls[0], start);
    const ray_snapshot second = carry_forward(first, assemble(polls[1], start + std::chrono::seconds{5}));
    for (const auto& change : diff(nullptr, first)) (void)json::serialize(change.data);
    for (const auto& change : diff(&first, second)) (void)json::serialize(change.data);
    show(first);
    show(second);

    // Written at every poll and read at start-up: what was written must read back.
    const std::string persisted = json::serialize(to_json(second));
    if (!snapshot_from_json(json::parse(persisted))) {
        std::cerr << "a persisted snapshot does not read back: " << persisted << '\n';
        std::abort();
    }

    boost::system::error_code ec;
    const json::value serve_answer = util::parse_outside_json(polls[0][4], ec);
    if (!ec && serve_answer.is_object()) {
        try {
            const ray::serve_config config = ray::serve_config_from(serve_answer.get_object(), 8000);
            (void)json::serialize(ray::put_body(config));
            (void)ray::deployment_names(serve_answer.get_object(), "fuzz");
        } catch (const std::invalid_argument&) {
            // Not Serve's shape: the writer refuses to write, saying why.
        }
    }
    (void)ray::ray_error_summary(input);
    return 0;
}
