// Stored events read on a thread of their own.
#include "raydeploy/events/event_reader.hpp"

#include "raydeploy/util/thread_name.hpp"

#include <boost/asio/post.hpp>

namespace raydeploy {

event_reader::event_reader(const std::filesystem::path& database_file)
    : db_{database_file, sqlite::open_mode::read_only}
{
    net::post(thread_, [] { name_this_thread("event-reader"); });
}

event_reader::~event_reader() { thread_.join(); }

// The arguments are taken by value: the caller's may be gone by the time the reader's thread
// runs the query (a request's fields, a subscriber's filter).
net::awaitable<std::vector<published_event_ptr>> event_reader::read(std::int64_t since, std::int64_t until,
                                                                    event_filter filter, std::size_t limit,
                                                                    std::size_t max_bytes)
{
    auto page = co_await net::co_spawn(
        thread_.get_executor(),
        [&]() -> net::awaitable<std::vector<published_event_ptr>> {
            co_return queries_.read(since, until, filter, limit, max_bytes);
        },
        net::use_awaitable);
    co_return page;
}

net::awaitable<execution_events_page> event_reader::read_execution(std::string execution_id,
                                                                   std::int64_t since_counter, std::size_t limit,
                                                                   std::size_t max_bytes)
{
    auto page = co_await net::co_spawn(
        thread_.get_executor(),
        [&]() -> net::awaitable<execution_events_page> {
            co_return queries_.read_execution(execution_id, since_counter, limit, max_bytes);
        },
        net::use_awaitable);
    co_return page;
}

}  // namespace raydeploy
