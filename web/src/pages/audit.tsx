// The audit trail (admins): every mutating request, accepted or refused, newest first. The API
// filters it (actor, action, outcome, created_after), so paging goes through all that matches.
import { useEffect, useId, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Schemas } from "../api/client";
import { useApp } from "../app";
import { Time } from "../components/time";
import { Pager } from "../components/pager";
import { ChoiceFilter, SinceFilter, TextFilter } from "../components/filter-fields";

type Entry = Schemas["AuditEntry"];
const pageSize = 100;

// The actions the service audits, by family; "family.*" asks for every action of one.
const actionFamilies: Record<string, string[]> = {
    execution: ["execution.start", "execution.cancel"],
    deployment: ["deployment.start", "deployment.cancel", "deployment.resume"],
    approval: ["approval.grant", "approval.deny", "approval.revoke"],
    application: ["application.deploy", "application.delete"],
    job: ["job.submit", "job.stop"],
    node: ["node.add", "node.remove"],
};
// Outcomes offered; the field takes any error code the service answers with.
const commonOutcomes = ["succeeded", "FORBIDDEN", "FOUR_EYES", "VALIDATION_ERROR", "APPROVAL_REQUIRED", "DEPLOYMENT_ACTIVE"];

function detailText(detail: Entry["detail"]): string {
    return Object.entries(detail)
        .filter(([key, value]) => key !== "http_status" && value !== null && value !== undefined)
        .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
        .join("; ");
}

interface Filters {
    actor: string;
    action: string;
    outcome: string;
    since: string;
}

/** "Since" as the API's created_after: datetime-local is the browser's local time, as typed. */
function createdAfter(since: string): string | undefined {
    if (!since) return undefined;
    const at = new Date(since);
    // Just before the minute typed, so that what was written at its first millisecond is in.
    return Number.isNaN(at.getTime()) ? undefined : new Date(at.getTime() - 1).toISOString();
}

export function AuditPage() {
    const { report } = useApp();
    const ids = useId();
    const [cursors, setCursors] = useState<(string | null)[]>([]);
    const [cursor, setCursor] = useState<string | null>(null);
    const [page, setPage] = useState<Schemas["AuditPage"] | null>(null);
    const [filters, setFilters] = useState<Filters>({ actor: "", action: "", outcome: "", since: "" });

    useEffect(() => {
        let current = true;
        setPage(null);
        api.get("/api/v1/audit", {
            query: {
                limit: pageSize,
                cursor: cursor ?? undefined,
                actor: filters.actor.trim() || undefined,
                action: filters.action || undefined,
                outcome: filters.outcome.trim() || undefined,
                created_after: createdAfter(filters.since),
            },
        }).then((loaded) => current && setPage(loaded), report);
        return () => {
            current = false;
        };
    }, [cursor, filters]);

    // Other filters, other list: back to its first page.
    const update = (change: Partial<Filters>) => {
        setFilters({ ...filters, ...change });
        setCursors([]);
        setCursor(null);
    };
    const entries = page?.entries ?? [];

    return (
        <>
            <h1>Audit trail</h1>
            <form class="filters" onSubmit={(e) => e.preventDefault()}>
                <TextFilter id={`${ids}-actor`} label="Actor" value={filters.actor} onChange={(actor) => update({ actor })} />
                <ChoiceFilter id={`${ids}-action`} label="Action" value={filters.action} onChange={(action) => update({ action })}>
                    {Object.entries(actionFamilies).map(([family, actions]) => (
                        <optgroup key={family} label={family}>
                            <option value={`${family}.*`}>{family}.* (all)</option>
                            {actions.map((name) => (
                                <option key={name} value={name}>
                                    {name}
                                </option>
                            ))}
                        </optgroup>
                    ))}
                </ChoiceFilter>
                <TextFilter id={`${ids}-outcome`} label="Outcome" value={filters.outcome} suggestions={commonOutcomes} onChange={(outcome) => update({ outcome })} />
                <SinceFilter id={`${ids}-since`} value={filters.since} onChange={(since) => update({ since })} />
            </form>
            <p class="hint">Actor and outcome match exactly (an identity; succeeded or an error code).</p>
            <div class="table-wrap">
                <table aria-label="Audit entries">
                    <thead>
                        <tr>
                            <th scope="col">When</th>
                            <th scope="col">Actor</th>
                            <th scope="col">Action</th>
                            <th scope="col">Target</th>
                            <th scope="col">Outcome</th>
                            <th scope="col" class="hide-narrow">From</th>
                            <th scope="col">Detail</th>
                        </tr>
                    </thead>
                    <tbody>
                        {entries.map((entry) => (
                            <tr key={entry.id}>
                                <td>
                                    <Time value={entry.at} />
                                </td>
                                <td>{entry.actor}</td>
                                <td class="mono small">{entry.action}</td>
                                <td>{entry.target || <span class="muted">–</span>}</td>
                                <td class={entry.outcome === "succeeded" ? "host-ok" : "host-bad"}>{entry.outcome}</td>
                                <td class="mono small hide-narrow">{entry.remote_addr}</td>
                                <td class="small">{detailText(entry.detail)}</td>
                            </tr>
                        ))}
                    </tbody>
                </table>
            </div>
            {!page && <p class="muted">Loading…</p>}
            {page && entries.length === 0 && <p class="muted">No entry matches.</p>}
            <Pager cursor={cursor} cursors={cursors} next={page?.next_cursor} setCursor={setCursor} setCursors={setCursors} />
        </>
    );
}
