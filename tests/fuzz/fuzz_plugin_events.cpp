// The callback plugin's event channel of one run: lines into the runner's parser, the run's
// progress, host summary, first error and published results, and each event as it is stored.
// What the child writes is not trusted: a playbook's task can print anything into a result.
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/engine/ansible_runner.hpp"
#include "raydeploy/engine/progress.hpp"
#include "raydeploy/events/event.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

namespace json = boost::json;

namespace {

// Equal JSON values, doubles to within a few units in the last place (or both next to zero): a
// line whose keys are escaped or repeated is serialized again from the parsed object, and
// Boost.JSON 1.81's double printing and parsing need not give back the last bit. Members copied
// as written are parsed from the same text and compare exactly.
bool same_value(const json::value& a, const json::value& b)
{
    if (a.is_double() && b.is_double()) {
        const double x = a.get_double(), y = b.get_double();
        return x == y || std::fabs(x - y) <= std::max(1e-14 * std::max(std::fabs(x), std::fabs(y)), 1e-300);
    }
    if (a.kind() != b.kind()) return false;
    if (a.is_object()) {
        if (a.get_object().size() != b.get_object().size()) return false;
        for (const auto& member : a.get_object()) {
            const json::value* other = b.get_object().if_contains(member.key());
            if (!other || !same_value(member.value(), *other)) return false;
        }
        return true;
    }
    if (a.is_array()) {
        const auto &x = a.get_array(), &y = b.get_array();
        if (x.size() != y.size()) return false;
        for (std::size_t i = 0; i < x.size(); ++i)
            if (!same_value(x[i], y[i])) return false;
        return true;
    }
    return a == b;
}

}  // namespace

RAYDEPLOY_FUZZ_TARGET(plugin_events)
{
    raydeploy::plugin_line_parser lines;
    raydeploy::execution_progress progress;
    std::int64_t counter = 0;
    const std::string_view channel = raydeploy::fuzz::as_text(data, size);
    // Split as the child's reader splits (child_process.cpp): at '\n', the last line unterminated.
    for (std::size_t start = 0; start <= channel.size();) {
        const std::size_t newline = std::min(channel.find('\n', start), channel.size());
        const std::string_view line = channel.substr(start, newline - start);
        start = newline + 1;
        if (line.empty()) continue;
        std::string error;
        json::object* fields = lines.parse(line, error);
        if (!fields) continue;
        progress.observe(*fields);
        const json::value* name = fields->if_contains("event");
        // As the runner relays it: the members copied from the line's text.
        const raydeploy::event stored{"ansible." + (name->is_string() ? std::string{name->get_string()} : "unknown"),
                                      "2026-12-04T00:00:00.000Z", "ex-fuzz", ++counter,
                                      raydeploy::encode_members(*fields, line, raydeploy::event_scope::execution)};
        // The stored text is what the feed and the store hand out: it must stay one JSON object
        // whatever the line held, and mean what the parsed line means.
        const std::string text = raydeploy::to_stored_text(stored);
        boost::system::error_code ec;
        const json::value reread = json::parse(text, ec);
        if (ec || !reread.is_object()) {
            std::cerr << "stored event is not a JSON object (" << ec.message() << "): " << text << '\n';
            std::abort();
        }
        // Every member of the parsed line but the event's own, with its value, and nothing else.
        std::size_t kept = 0;
        for (const auto& member : *fields) {
            const std::string_view key = member.key();
            if (key == "type" || key == "created" || key == "seq" || key == "execution_id" || key == "counter")
                continue;
            ++kept;
            const json::value* copied = reread.as_object().if_contains(key);
            if (!copied || !same_value(*copied, member.value())) {
                std::cerr << "member " << key << " of the stored event differs from the parsed line's: " << text
                          << '\n';
                std::abort();
            }
        }
        if (reread.as_object().size() != kept + 4) {
            std::cerr << "the stored event has members the parsed line has not: " << text << '\n';
            std::abort();
        }
        // As the runner reads them after every task and at the end.
        (void)json::serialize(progress.progress());
        (void)json::serialize(progress.host_summary());
        if (progress.first_error()) (void)json::serialize(*progress.first_error());
        if (progress.results()) (void)json::serialize(progress.results()->results);
    }
    return 0;
}
