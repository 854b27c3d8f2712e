// Benchmark for scripts/bench.sh ray: the Ray poller's step on a synthetic 10,000-node cluster.
// Each round parses a /api/v0/nodes answer and a /api/cluster_status answer with per-node usage,
// assembles the snapshot and diffs it against the previous round's (where 1 % of the nodes died),
// and prints min/median/max. Figures, not assertions: the goal is at most 20 ms per round.
//
//   bench_ray_snapshot [NODES] [ROUNDS]      (default 10000 nodes, 20 rounds)
#include "raydeploy/watch/ray_snapshot.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace json = boost::json;
using namespace raydeploy::watch;

namespace {

// CPU time of this thread: on a shared machine wall time also counts the time other processes ran.
double thread_cpu_ms()
{
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

void print_stats(const char* what, std::vector<double> millis)
{
    std::sort(millis.begin(), millis.end());
    std::printf("%s: min %.2f ms, median %.2f ms, max %.2f ms\n", what, millis.front(), millis[millis.size() / 2],
                millis.back());
}

// Ray's node ids are 28 random bytes in hex; ids with a long common prefix would make every
// comparison slower than a real cluster's.
std::string node_id(std::size_t i)
{
    std::string id;
    std::uint64_t state = i;
    while (id.size() < 56) {
        // splitmix64
        std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        z ^= z >> 31;
        char part[17];
        std::snprintf(part, sizeof part, "%016llx", static_cast<unsigned long long>(z));
        id += part;
    }
    id.resize(56);
    return id;
}

// Ray's shapes (part B.3, B.5): state envelope for nodes, camelCase legacy envelope for status.
std::pair<std::string, std::string> answers(std::size_t nodes, std::size_t dead_every)
{
    json::array rows;
    json::object by_node;
    for (std::size_t i = 0; i < nodes; ++i) {
        const auto ip = "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) + "." +
                        std::to_string(i % 256);
        const bool dead = dead_every && i % dead_every == 1;
        json::object resources{{"CPU", 16.0}, {"memory", 64e9}, {"object_store_memory", 20e9}, {"node:" + ip, 1.0}};
        if (i == 0) resources["node:__internal_head__"] = 1.0;
        if (i % 4 == 0) resources["GPU"] = 1.0;
        rows.push_back(json::object{{"node_id", node_id(i)},
                                    {"node_ip", ip},
                                    {"is_head_node", i == 0},
                                    {"state", dead ? "DEAD" : "ALIVE"},
                                    {"state_message", dead ? json::value("Expected termination: received SIGTERM") : nullptr},
                                    {"node_name", ip},
                                    {"resources_total", resources},
                                    {"labels", json::object{{"ray.io/node-id", node_id(i)}}},
                                    {"start_time_ms", 1796312819826},
                                    {"end_time_ms", dead ? 1796312901489 : 0}});
        if (!dead)
            by_node[node_id(i)] = json::object{{"CPU", json::array{4.0, 16.0}}, {"memory", json::array{0.0, 64e9}},
                                               {"objectStoreMemory", json::array{1e6, 20e9}}};
    }
    // The State API sorts its list by node id; usageByNode keeps the GCS's order.
    std::sort(rows.begin(), rows.end(), [](const json::value& a, const json::value& b) {
        return a.at("node_id").get_string() < b.at("node_id").get_string();
    });
    const auto count = static_cast<std::int64_t>(nodes);
    json::object nodes_answer{
        {"result", true},
        {"msg", ""},
        {"data", json::object{{"result", json::object{{"total", count}, {"num_after_truncation", count},
                                                      {"num_filtered", count}, {"result", std::move(rows)},
                                                      {"partial_failure_warning", ""}, {"warnings", nullptr}}}}}};
    json::object status_answer{
        {"result", true},
        {"msg", "Got cluster status."},
        {"data", json::object{{"autoscalingStatus", nullptr},
                              {"autoscalingError", nullptr},
                              {"clusterStatus",
                               json::object{{"time", 1796312825.07},
                                            {"loadMetricsReport",
                                             json::object{{"usage", json::object{{"CPU", json::array{4.0 * count, 16.0 * count}}}},
                                                          {"usageByNode", std::move(by_node)}}}}}}}};
    return {json::serialize(nodes_answer), json::serialize(status_answer)};
}

}  // namespace

int main(int argc, char** argv)
{
    const std::size_t nodes = argc > 1 ? std::stoul(argv[1]) : 10'000;
    const int rounds = argc > 2 ? std::stoi(argv[2]) : 20;
    const auto [healthy_nodes, healthy_status] = answers(nodes, 0);
    const auto [dying_nodes, dying_status] = answers(nodes, 100);
    const std::string version = R"({"version":"4","ray_version":"2.60.0"})";
    std::cout << "ray snapshot: " << nodes << " nodes, /api/v0/nodes " << healthy_nodes.size() / 1024
              << " KiB + /api/cluster_status " << healthy_status.size() / 1024 << " KiB per round\n";

    // CPU time of each phase, to show where a slow round spends it.
    std::vector<double> nodes_millis, status_millis, assemble_millis, diff_millis;
    const auto observe = [&](const std::string& nodes_body, const std::string& status_body) {
        double mark = thread_cpu_ms();
        const auto lap = [&mark](std::vector<double>& into) {
            const double now = thread_cpu_ms();
            into.push_back(now - mark);
            mark = now;
        };
        auto parsed_nodes = parse_nodes(nodes_body);
        lap(nodes_millis);
        auto parsed_status = parse_cluster_status(status_body);
        lap(status_millis);
        auto snapshot = assemble_snapshot(std::chrono::system_clock::now(), parse_version(version),
                                          std::move(parsed_status), std::move(parsed_nodes), parse_jobs("[]"),
                                          parse_serve_applications("{}"));
        lap(assemble_millis);
        return snapshot;
    };
    auto previous = observe(healthy_nodes, healthy_status);
    nodes_millis.clear();
    status_millis.clear();
    assemble_millis.clear();
    std::vector<double> millis;
    std::vector<double> cpu_millis;
    std::size_t events = 0;
    for (int round = 0; round < rounds; ++round) {
        const bool dying = round % 2 == 0;
        const auto started = std::chrono::steady_clock::now();
        const double cpu_started = thread_cpu_ms();
        auto current = observe(dying ? dying_nodes : healthy_nodes, dying ? dying_status : healthy_status);
        const double diff_started = thread_cpu_ms();
        const auto changes = diff(&previous, current);
        diff_millis.push_back(thread_cpu_ms() - diff_started);
        millis.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
        cpu_millis.push_back(thread_cpu_ms() - cpu_started);
        if (!current.complete() || current.nodes->size() != nodes) {
            std::cerr << "bench_ray_snapshot: the synthetic answer did not parse\n";
            return 1;
        }
        events += changes.size();
        previous = std::move(current);
    }
    std::printf("parse + diff over %d rounds (goal <= 20 ms), %zu events:\n", rounds, events);
    print_stats("  wall time", millis);
    print_stats("  CPU time ", cpu_millis);
    std::printf("CPU time by phase:\n");
    print_stats("  parse_nodes         ", nodes_millis);
    print_stats("  parse_cluster_status", status_millis);
    print_stats("  assemble_snapshot   ", assemble_millis);
    print_stats("  diff                ", diff_millis);
    std::sort(millis.begin(), millis.end());
    std::printf("ray_snapshot_median_ms=%.2f\n", millis[millis.size() / 2]);
    return 0;
}
