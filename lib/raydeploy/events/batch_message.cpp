// Batched feed messages as gathers of the events' shared text.
#include "raydeploy/events/batch_message.hpp"

namespace raydeploy {
namespace {

constexpr char open_bracket[] = {'['};
constexpr char comma[] = {','};
constexpr char close_bracket[] = {']'};

}  // namespace

bool batch_message::continues_last_piece(const published_event& item) const
{
    if (blocks_.empty() || blocks_.back() != item.block) return false;
    // The last piece and the event both lie in the block, the piece first, so this stays inside it.
    const auto& last = pieces_.back();
    return static_cast<const char*>(last.data()) + last.size() + 1 == item.text.data();
}

void batch_message::add(const published_event_ptr& item)
{
    if (continues_last_piece(*item)) {
        auto& last = pieces_.back();
        last = net::const_buffer{last.data(), last.size() + 1 + item->text.size()};
    } else {
        pieces_.push_back(blocks_.empty() ? net::buffer(open_bracket) : net::buffer(comma));
        pieces_.push_back(net::buffer(item->text));
        blocks_.push_back(item->block);
    }
    ++events_;
    bytes_ += 1 + item->text.size();
}

std::span<const net::const_buffer> batch_message::buffers()
{
    closed_.clear();
    if (empty()) return {};
    if (pieces_.size() + 1 <= max_pieces) {
        closed_ = pieces_;
        closed_.push_back(net::buffer(close_bracket));
        return closed_;
    }
    flat_.clear();
    flat_.reserve(bytes());
    for (const auto& piece : pieces_) flat_.append(static_cast<const char*>(piece.data()), piece.size());
    flat_ += ']';
    closed_.push_back(net::buffer(flat_));
    return closed_;
}

void batch_message::clear()
{
    pieces_.clear();
    blocks_.clear();
    closed_.clear();
    // A copy is rare and up to a page of events long: not kept for the subscriber's lifetime.
    flat_ = std::string{};
    events_ = 0;
    bytes_ = 0;
}

}  // namespace raydeploy
