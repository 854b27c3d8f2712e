// Refusals of the execution engine. The HTTP layer maps each kind to one status and code.
#pragma once

#include <stdexcept>
#include <string>

namespace raydeploy {

class engine_error : public std::runtime_error {
public:
    enum class kind {
        checkpoint_not_found,  // 404 CHECKPOINT_NOT_FOUND
        execution_not_found,   // 404 EXECUTION_NOT_FOUND
        already_running,       // 409 ALREADY_RUNNING; `subject` is the running execution's id
        approval_required,     // 409 APPROVAL_REQUIRED; `subject` is the checkpoint
        already_finished,      // 409 ALREADY_FINISHED
    };

    engine_error(kind what, std::string subject, const std::string& message)
        : std::runtime_error{message}, kind_{what}, subject_{std::move(subject)}
    {
    }
    kind which() const { return kind_; }
    const std::string& subject() const { return subject_; }

private:
    kind kind_;
    std::string subject_;
};

}  // namespace raydeploy
