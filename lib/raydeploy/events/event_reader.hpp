// Reads stored events for the service on a thread and a connection of their own. A page of a
// replay (a subscriber's since= far back, one that fell out of the window, a REST page of up to
// events.page_bytes) is milliseconds of SQLite; on the io thread it held up every request, every
// other subscriber and the intake of events meanwhile. The store is in WAL mode, so this
// connection reads while the io thread's connection writes, and it sees every committed event:
// the bus publishes an event only after its commit.
//
// @par Thread safety
// Call from the io_context's thread. Each read runs on the reader's thread and resumes the
// caller on its own executor; reads run one at a time, in the order they were asked for.
#pragma once

#include "raydeploy/events/stored_events.hpp"
#include "raydeploy/store/sqlite.hpp"
#include "raydeploy/util/net.hpp"

#include <boost/asio/thread_pool.hpp>

#include <filesystem>

namespace raydeploy {

class event_reader {
public:
    // Opens its own connection to the store's database file (which must exist), read-only.
    explicit event_reader(const std::filesystem::path& database_file);
    event_reader(const event_reader&) = delete;
    event_reader& operator=(const event_reader&) = delete;
    // Waits for a read in progress.
    ~event_reader();

    // stored_events::read and read_execution, on the reader's thread.
    net::awaitable<std::vector<published_event_ptr>> read(std::int64_t since, std::int64_t until,
                                                          event_filter filter, std::size_t limit,
                                                          std::size_t max_bytes = SIZE_MAX);
    net::awaitable<execution_events_page> read_execution(std::string execution_id, std::int64_t since_counter,
                                                         std::size_t limit, std::size_t max_bytes = SIZE_MAX);

private:
    sqlite::database db_;  // used on thread_ only
    stored_events queries_{db_};
    net::thread_pool thread_{1};
};

}  // namespace raydeploy
