// A synthetic ansible-playbook for scripts/bench-events.sh: set as the service's ansible_playbook,
// it writes the lines raydeploy's callback plugin would write (playbooks/callback_plugins/
// raydeploy_events.py, shapes copied from a recorded run of tests/fixtures/ansible/succeed.yml) on
// the descriptor named by RAYDEPLOY_EVENT_FD, and the human output on stdout, then exits 0. So the
// service's whole path (event channel, parse, SQLite batches, WebSocket fan-out) is measured
// without Ansible's own cost, which is a thousand times larger.
//
//   bench_event_source [ansible-playbook arguments: -i INVENTORY -e @VARS_FILE ... PLAYBOOK]
//
// What to write comes from the run's extra vars (the `-e @FILE` the service writes), declared by
// the checkpoint (tests/fixtures/events/catalog.yaml):
//   event_count  events in all, playbook_on_start and playbook_on_stats included (default 200000)
//   event_rate   events per second; 0 (default): as fast as the channel takes them
//   event_hosts  hosts per task (default 20): a task is one task start, then a runner_on_start
//                per host, then a runner_on_ok per host, as Ansible's linear strategy sends them
// Every event's event_data carries `bench_written_ns`: CLOCK_REALTIME in nanoseconds when its line
// was formatted (paced: just before its own write(2); unpaced, lines are written 64 KiB at a time).
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <poll.h>
#include <random>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace {

struct options {
    long long events = 200000;
    long long rate = 0;
    long long hosts = 20;
    std::string playbook = "events.yml";
};

long long realtime_ns()
{
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<long long>(now.tv_sec) * 1000000000LL + now.tv_nsec;
}

[[noreturn]] void fail(const std::string& message)
{
    std::fprintf(stderr, "bench_event_source: %s\n", message.c_str());
    std::exit(2);
}

// Integer variables of the service's extra-vars file, one `name: value` a line (extra_vars_yaml).
void read_vars_file(const std::string& path, options& out)
{
    std::ifstream in{path};
    if (!in) fail("cannot read the extra-vars file " + path + " (the service passes it as -e @FILE)");
    for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(": ");
        if (colon == std::string::npos) continue;
        const std::string_view name{line.data(), colon};
        const std::string_view value{line.data() + colon + 2, line.size() - colon - 2};
        long long* target = name == "event_count" ? &out.events
                            : name == "event_rate" ? &out.rate
                            : name == "event_hosts" ? &out.hosts
                                                    : nullptr;
        if (!target) continue;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), *target);
        if (ec != std::errc{} || end != value.data() + value.size())
            fail(std::string{name} + " in " + path + " is not a whole number: declare it as type integer in the catalog");
    }
    if (out.events < 2) fail("event_count must be at least 2 (playbook_on_start and playbook_on_stats)");
    if (out.hosts < 1) fail("event_hosts must be at least 1");
    if (out.rate < 0) fail("event_rate must be 0 (as fast as possible) or a positive number of events per second");
}

options parse_arguments(int argc, char** argv)
{
    options out;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if ((arg == "-i" || arg == "--limit") && i + 1 < argc) {
            ++i;
        } else if (arg == "-e" && i + 1 < argc) {
            const std::string_view value = argv[++i];
            if (!value.empty() && value.front() == '@') read_vars_file(std::string{value.substr(1)}, out);
        } else if (!arg.empty() && arg.front() != '-') {
            positional.emplace_back(arg);
        }
    }
    if (!positional.empty()) {
        const auto slash = positional.back().rfind('/');
        out.playbook = slash == std::string::npos ? positional.back() : positional.back().substr(slash + 1);
    }
    return out;
}

// The event channel: whole writes, waiting when the service has not read the pipe yet.
class channel {
public:
    explicit channel(int fd) : fd_{fd} {}

    void write_all(std::string_view data)
    {
        while (!data.empty()) {
            const ssize_t n = ::write(fd_, data.data(), data.size());
            if (n >= 0) {
                data.remove_prefix(static_cast<std::size_t>(n));
            } else if (errno == EAGAIN) {
                pollfd waiting{fd_, POLLOUT, 0};
                ::poll(&waiting, 1, -1);
            } else if (errno != EINTR) {
                fail(std::string{"writing the event channel failed: "} + std::strerror(errno) +
                     " (did the service stop reading?)");
            }
        }
    }

private:
    int fd_;
};

class writer {
public:
    explicit writer(const options& opts) : opts_{opts}, random_{std::random_device{}()}
    {
        pid_ = std::to_string(::getpid());
        for (long long h = 1; h <= opts.hosts; ++h) host_names_.push_back("host" + std::to_string(h));
        ok_per_host_.assign(static_cast<std::size_t>(opts.hosts), 0);
        playbook_uuid_ = make_uuid();
        play_uuid_ = make_uuid();
    }

    // The next event's line (with its newline) into `line`, and its human output into `output`.
    // Returns false once every event has been formatted.
    bool next(std::string& line, std::string& output)
    {
        if (written_ >= opts_.events) return false;
        line.clear();
        ++written_;
        if (written_ == 1) {
            playbook_on_start(line);
        } else if (written_ == opts_.events) {
            playbook_on_stats(line, output);
        } else if (written_ == 2) {
            play_start(line, output);
        } else {
            task_step(line, output);
        }
        return true;
    }

private:
    // One task of the linear strategy: its start, every host's runner_on_start, every host's result.
    void task_step(std::string& line, std::string& output)
    {
        const long long step = task_step_++ % (2 * opts_.hosts + 1);
        if (step == 0) {
            ++task_number_;
            task_name_ = "Step " + std::to_string(task_number_);
            task_uuid_ = make_uuid();
            task_path_ = "/bench/" + opts_.playbook + ":" + std::to_string(4 + 3 * task_number_);
            const std::string text = "\nTASK [" + task_name_ + "] " + stars(task_name_.size() + 8);
            begin("playbook_on_task_start", task_uuid_, play_uuid_, text, 2, line, output);
            task_fields(line);
            line += R"(,"task_args":{"msg":"hello from {{ inventory_hostname }}"})";
            end(line);
        } else if (step <= opts_.hosts) {
            const auto& host = host_names_[static_cast<std::size_t>(step - 1)];
            begin("runner_on_start", make_uuid(), task_uuid_, "", 0, line, output);
            task_fields(line);
            line += R"(,"host":")" + host + R"(","remote_addr":"127.0.0.1","start":")";
            line += created_;
            line += '"';
            end(line);
        } else {
            const std::size_t index = static_cast<std::size_t>(step - opts_.hosts - 1);
            const auto& host = host_names_[index];
            ++ok_per_host_[index];
            const std::string text = "ok: [" + host + "] => {\n    \"msg\": \"hello from " + host + "\"\n}";
            begin("runner_on_ok", make_uuid(), task_uuid_, text, 3, line, output);
            task_fields(line);
            line += R"(,"host":")" + host + R"(","remote_addr":"127.0.0.1","res":{"msg":"hello from )" + host +
                    R"(","changed":false},"start":")";
            line += created_;
            line += R"(","end":")";
            line += created_;
            line += R"(","duration":0.000412,"changed":false,"failed":false)";
            end(line);
        }
    }

    void playbook_on_start(std::string& line)
    {
        std::string ignored;
        begin("playbook_on_start", playbook_uuid_, "", "", 0, line, ignored);
        line += R"("playbook":")" + opts_.playbook + R"(","playbook_uuid":")" + playbook_uuid_ + '"';
        end(line);
    }

    void play_start(std::string& line, std::string& output)
    {
        const std::string text = "\nPLAY [Synthetic events] " + stars(24);
        begin("playbook_on_play_start", play_uuid_, playbook_uuid_, text, 2, line, output);
        play_fields(line);
        end(line);
    }

    void playbook_on_stats(std::string& line, std::string& output)
    {
        std::string text = "\nPLAY RECAP " + stars(11) + "\n";
        std::string ok = "{", processed = "{";
        for (std::size_t h = 0; h < host_names_.size(); ++h) {
            const std::string& host = host_names_[h];
            const std::string count = std::to_string(ok_per_host_[h]);
            text += host + std::string(27 - std::min<std::size_t>(host.size(), 26), ' ') + ": ok=" + count +
                    "    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   \n";
            ok += (h ? ",\"" : "\"") + host + "\":" + count;
            processed += (h ? ",\"" : "\"") + host + "\":1";
        }
        ok += '}';
        processed += '}';
        begin("playbook_on_stats", make_uuid(), playbook_uuid_, text, 3 + static_cast<long long>(host_names_.size()),
              line, output);
        line += R"("playbook":")" + opts_.playbook + R"(","playbook_uuid":")" + playbook_uuid_ + R"(","ok":)" + ok +
                R"(,"changed":{},"failures":{},"dark":{},"skipped":{},"rescued":{},"ignored":{},"processed":)" +
                processed + R"(,"artifact_data":{})";
        end(line);
    }

    // Everything up to the opening brace of event_data (the plugin's field order).
    void begin(std::string_view event, const std::string& uuid, const std::string& parent, std::string_view text,
               long long lines, std::string& line, std::string& output)
    {
        stamp();
        line += R"({"event":")";
        line += event;
        line += R"(","uuid":")";
        line += uuid;
        line += R"(","parent_uuid":)";
        line += parent.empty() ? std::string{"null"} : '"' + parent + '"';
        line += R"(,"counter":)";
        line += std::to_string(written_);
        line += R"(,"stdout":")";
        append_escaped(line, text);
        line += R"(","start_line":)";
        line += std::to_string(output_lines_);
        output_lines_ += lines;
        line += R"(,"end_line":)";
        line += std::to_string(output_lines_);
        line += R"(,"created":")";
        line += created_;
        line += R"(","pid":)";
        line += pid_;
        line += R"(,"event_data":{)";
        if (!text.empty()) {
            output += text;
            output += '\n';
        }
    }

    void end(std::string& line)
    {
        line += R"(,"bench_written_ns":)";
        line += std::to_string(written_ns_);
        line += "}}\n";
    }

    void play_fields(std::string& line)
    {
        line += R"("playbook":")" + opts_.playbook + R"(","playbook_uuid":")" + playbook_uuid_ +
                R"(","play":"Synthetic events","play_uuid":")" + play_uuid_ + R"(","play_pattern":"bench_hosts")";
    }

    void task_fields(std::string& line)
    {
        play_fields(line);
        line += R"(,"task":")" + task_name_ + R"(","task_uuid":")" + task_uuid_ +
                R"(","task_action":"ansible.builtin.debug","task_path":")" + task_path_ + R"(","role":"")";
    }

    // The plugin's `created`: RFC 3339 UTC with milliseconds.
    void stamp()
    {
        written_ns_ = realtime_ns();
        const std::time_t second = static_cast<std::time_t>(written_ns_ / 1000000000LL);
        if (second != stamped_second_) {
            stamped_second_ = second;
            std::tm utc{};
            gmtime_r(&second, &utc);
            char text[32];
            std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
            second_prefix_ = text;
        }
        char millis[8];
        std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(written_ns_ / 1000000 % 1000));
        created_ = second_prefix_ + millis;
    }

    std::string make_uuid()
    {
        static constexpr char hex[] = "0123456789abcdef";
        const std::uint64_t high = random_(), low = random_();
        std::string out(36, '-');
        int bit = 0;
        for (std::size_t i = 0; i < out.size(); ++i) {
            if (i == 8 || i == 13 || i == 18 || i == 23) continue;
            const std::uint64_t word = bit < 64 ? high : low;
            out[i] = hex[(word >> (bit % 64)) & 0xf];
            bit += 4;
        }
        out[14] = '4';  // version 4 and the RFC 4122 variant, as Python's uuid4
        out[19] = hex[8 + (low & 3)];
        return out;
    }

    static std::string stars(std::size_t used) { return std::string(used < 80 ? 80 - used : 3, '*'); }

    static void append_escaped(std::string& out, std::string_view text)
    {
        for (const char c : text) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (c == '\n') {
                out += "\\n";
            } else {
                out += c;
            }
        }
    }

    const options& opts_;
    std::mt19937_64 random_;
    std::string pid_;
    std::vector<std::string> host_names_;
    std::vector<long long> ok_per_host_;
    std::string playbook_uuid_, play_uuid_, task_uuid_, task_name_, task_path_;
    long long written_ = 0, task_step_ = 0, task_number_ = 0, output_lines_ = 0, written_ns_ = 0;
    std::time_t stamped_second_ = -1;
    std::string second_prefix_, created_;
};

void sleep_until_ns(long long deadline)
{
    const timespec until{static_cast<std::time_t>(deadline / 1000000000LL), static_cast<long>(deadline % 1000000000LL)};
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, nullptr) == EINTR) {
    }
}

}  // namespace

int main(int argc, char** argv)
{
    const options opts = parse_arguments(argc, argv);
    const char* fd_text = std::getenv("RAYDEPLOY_EVENT_FD");
    int fd = -1;
    if (!fd_text || std::from_chars(fd_text, fd_text + std::strlen(fd_text), fd).ec != std::errc{} || fd < 0)
        fail("RAYDEPLOY_EVENT_FD is not set to a descriptor: run this as the service's ansible_playbook "
             "(raydeploy serve --ansible-playbook build/bin/bench_event_source)");
    channel events{fd};
    writer source{opts};
    std::string line, output, batch;
    // Unpaced, lines go out 64 KiB at a time (the service reads the pipe in chunks anyway); paced,
    // each line has its own write so that its timestamp is its write time.
    constexpr std::size_t batch_bytes = 64 * 1024;
    const long long started = realtime_ns();
    for (long long index = 0;; ++index) {
        // Paced: wait for the event's turn before formatting it, so its stamp is its write time.
        if (opts.rate > 0) {
            const long long due = started + index * 1000000000LL / opts.rate;
            if (realtime_ns() < due) sleep_until_ns(due);
        }
        if (!source.next(line, output)) break;
        if (opts.rate > 0) {
            events.write_all(line);
        } else {
            batch += line;
            if (batch.size() >= batch_bytes) {
                events.write_all(batch);
                batch.clear();
            }
        }
        if (output.size() >= batch_bytes) {
            std::fwrite(output.data(), 1, output.size(), stdout);
            output.clear();
        }
    }
    events.write_all(batch);
    std::fwrite(output.data(), 1, output.size(), stdout);
    std::fflush(stdout);
    return 0;
}
