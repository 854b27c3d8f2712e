// What a run may pass to a playbook, and how: extra_vars checked against the variables the
// checkpoint declares (catalog `vars:`), `limit` checked to be a host pattern, the extra-vars file
// that makes Ansible treat every value as data, and the redaction of values in the API's JSON.
//
// Sans-I/O: the executions and deployments engines and their tests call these directly.
#pragma once

#include "raydeploy/catalog/catalog.hpp"
#include "raydeploy/engine/execution.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raydeploy {

// Throws engine_error::invalid_field("extra_vars.NAME") for the first variable `item` does not
// accept: a reserved name (ansible_*, raydeploy_*, Ansible's magic variables), a name it does not
// declare, a value of the wrong type, outside the choices, not matching the pattern, or holding a
// string (at any depth, dict keys included) with a template marker: "{{", "{%" or "{#".
// Error messages never quote the value: they end up in the audit trail.
void check_extra_vars(const checkpoint& item, const boost::json::object& vars);

// Everything a run of `item` is checked for before it is queued or asks for an approval:
// check_extra_vars, check_limit when there is a limit, and for every kind but ansible that neither
// `limit` nor `check` is given (engine_error::invalid_field naming it: they are ansible-playbook's).
void check_run_params(const checkpoint& item, const execution_params& params);

// The same for a deployment whose steps are `steps`: a variable must be declared by at least one
// step, and its value must satisfy every step that declares it.
void check_deployment_extra_vars(const std::vector<const checkpoint*>& steps, const boost::json::object& vars);

// The part of `vars` that `item` declares: what one step of a deployment receives.
boost::json::object declared_extra_vars(const checkpoint& item, const boost::json::object& vars);

// Throws engine_error::invalid_field("limit") unless `limit` is a host pattern: letters, digits
// and . _ - * ? [ ] : , ! & ~ only (no '@': Ansible reads "@FILE" as a file of host names, and
// no whitespace), not starting with '-' (it would read as an option), at most 1024 characters.
void check_limit(std::string_view limit);

// The extra-vars file given to ansible-playbook with `-e @FILE`: YAML in which every string of
// `vars` (nested ones and dict keys included) is tagged !unsafe, so Ansible never templates it,
// followed by the service's own `service_vars` (raydeploy_*, plain strings). Strings are written
// double-quoted with everything outside printable ASCII escaped, so the values reach the
// playbook byte for byte.
std::string extra_vars_yaml(const boost::json::object& vars, const boost::json::object& service_vars);

// `vars` as the API shows it: every value replaced by "***" unless `reveal` (operators and above),
// and in any case for a variable one of `sources` declares `secret: true`. A nullptr among
// `sources` (a checkpoint no longer in the catalog) hides every value.
boost::json::object redact_extra_vars(const boost::json::object& vars, const std::vector<const checkpoint*>& sources,
                                      bool reveal);

}  // namespace raydeploy
