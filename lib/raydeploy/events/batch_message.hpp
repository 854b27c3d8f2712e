// A batched feed message (a JSON array of events) as the pieces to write, not as a copy: events
// published or read together share one block of text joined by commas (published_event), so a
// run of them is one piece, and the message is "[", the runs with commas between them, and "]".
// Every subscriber copying the whole stream into messages of its own was the feed's largest cost
// after the kernel's.
//
// @par Thread safety
// None: one per subscriber.
#pragma once

#include "raydeploy/events/event.hpp"
#include "raydeploy/util/net.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace raydeploy {

class batch_message {
public:
    // Asio gathers at most this many pieces in one send; a message of more (a filter that takes
    // every other event) is copied into one piece instead, as Beast's buffer views walk the whole
    // sequence again on every partial send.
    static constexpr std::size_t max_pieces = 64;

    // Appends the event. Its block is held until clear(), so the window may drop the event meanwhile.
    void add(const published_event_ptr& item);

    bool empty() const { return blocks_.empty(); }
    std::size_t events() const { return events_; }
    // The message's size once closed: its events' texts and one separator each.
    std::size_t bytes() const { return bytes_ + (empty() ? 0 : 1); }

    // The whole message, valid until the next add() or clear().
    std::span<const net::const_buffer> buffers();
    void clear();

private:
    // The event follows the last piece in the same block, the comma between them included.
    bool continues_last_piece(const published_event& item) const;

    std::vector<net::const_buffer> pieces_;                   // "[", runs, commas (no "]" yet)
    std::vector<std::shared_ptr<const std::string>> blocks_;  // one per run
    std::size_t events_ = 0;
    std::size_t bytes_ = 0;
    std::vector<net::const_buffer> closed_;  // what buffers() returns
    std::string flat_;                       // a message of too many pieces, copied
};

}  // namespace raydeploy
