// What a destructive step would end in the Ray cluster right now (the service's live impact).
import type { Schemas } from "../api/client";
import { Time } from "./time";

type Impact = Schemas["LiveImpact"];

/** Whether the impact lists running work, which a grant has to acknowledge. */
export function listsRunningWork(impact: Impact | null | undefined): boolean {
    return !!impact && impact.fresh && impact.jobs_total + impact.applications_total > 0;
}

export function LiveImpact({ impact, title }: { impact: Impact; title: string }) {
    return (
        <div class="live-impact">
            <h3>{title}</h3>
            <p>
                <strong class={listsRunningWork(impact) ? "destructive-text" : undefined}>{impact.summary}</strong>{" "}
                <span class="muted small">
                    (Ray {impact.source_state.toLowerCase()}, as of <Time value={impact.observed_at} />)
                </span>
            </p>
            {!impact.fresh && impact.note && <p class="small">{impact.note}</p>}
            {impact.jobs.length > 0 && (
                <ul class="small">
                    {impact.jobs.map((job) => (
                        <li key={job.submission_id ?? job.job_id ?? job.entrypoint}>
                            job {job.submission_id ?? job.job_id} ({job.status}): <code>{job.entrypoint}</code>
                        </li>
                    ))}
                </ul>
            )}
            {impact.applications.length > 0 && (
                <ul class="small">
                    {impact.applications.map((app) => (
                        <li key={app.name}>
                            Serve application {app.name} ({app.status}){app.route_prefix ? ` at ${app.route_prefix}` : ""}
                        </li>
                    ))}
                </ul>
            )}
            {impact.creates && impact.creates.length > 0 && <p class="small">Creates: {impact.creates.join(", ")}</p>}
            {impact.restarts && impact.restarts.length > 0 && (
                <p class="small">
                    Restarts: {impact.restarts.map((r) => `${r.app_name} (${r.fields.join(", ")})`).join("; ")}
                </p>
            )}
        </div>
    );
}
