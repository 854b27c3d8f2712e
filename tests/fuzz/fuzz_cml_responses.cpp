// Answers of the CML API v2 as the CML client reads them: the first byte picks the endpoint's
// reader (a project, job, job run or application, a page of each, or the error envelope every
// failure carries), the rest is the body. A body that is not the documented shape must come back
// as a cml_parse_error, which the client reports naming the field. What is read goes on to the
// comparisons the CML steps make with it.
#include "fuzz/fuzz_target.hpp"

#include "raydeploy/cml/cml_api.hpp"
#include "raydeploy/cml/ray_cluster.hpp"

using namespace raydeploy::cml;

namespace {

void compare_job(const job& current)
{
    job_request spec;
    spec.name = "fuzz-job";
    spec.script = "scripts/fuzz.py";
    (void)job_differences(current, spec);
}

void compare_application(const application& current)
{
    application_spec spec;
    spec.name = "fuzz-app";
    spec.subdomain = "fuzz";
    (void)application_differences(current, spec);
    (void)role_in_cluster(current, "fuzz");
}

}  // namespace

RAYDEPLOY_FUZZ_TARGET(cml_responses)
{
    if (size == 0) return 0;
    const std::string_view body = raydeploy::fuzz::as_text(data + 1, size - 1);
    try {
        switch (data[0] % 9) {
        case 0: (void)parse_error_envelope(body); break;
        case 1: (void)parse_project(body); break;
        case 2: compare_job(parse_job(body)); break;
        case 3: (void)parse_job_run(body); break;
        case 4: compare_application(parse_application(body)); break;
        case 5: (void)parse_project_page(body); break;
        case 6:
            for (const auto& item : parse_job_page(body).items) compare_job(item);
            break;
        case 7: (void)parse_job_run_page(body); break;
        default:
            for (const auto& item : parse_application_page(body).items) compare_application(item);
            break;
        }
    } catch (const cml_parse_error&) {
    }
    return 0;
}
