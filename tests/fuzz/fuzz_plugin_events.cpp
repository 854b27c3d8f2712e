// The callback plugin's event channel of one run: lines into the runner's parser, the run's
// progress, host summary, first error and published results, and each event as it is stored.
// What the child writes is not trusted: a playbook's task can print anything into a result.
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/engine/ansible_runner.hpp"
#include "raydeploy/engine/progress.hpp"
#include "raydeploy/events/event.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <iostream>

namespace json = boost::json;

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
        const json::value serialized = json::parse(
            "{" + raydeploy::encode_members(*fields, raydeploy::event_scope::execution) + "}", ec);
        if (ec || reread.as_object().size() != serialized.as_object().size() + 4) {
            std::cerr << "the members copied from the line differ from the parsed line's: " << text << '\n';
            std::abort();
        }
        for (const auto& member : serialized.as_object()) {
            const json::value* copied = reread.as_object().if_contains(member.key());
            if (!copied || *copied != member.value()) {
                std::cerr << "member " << member.key() << " copied from the line differs from the parsed one: " << text
                          << '\n';
                std::abort();
            }
        }
        // As the runner reads them after every task and at the end.
        (void)json::serialize(progress.progress());
        (void)json::serialize(progress.host_summary());
        if (progress.first_error()) (void)json::serialize(*progress.first_error());
        if (progress.results()) (void)json::serialize(progress.results()->results);
    }
    return 0;
}
