// Past executions and deployments, newest first, a page at a time, with filters kept in the
// address (so a filtered view can be shared). The API filters (checkpoint, status, created_after),
// so every page is full and paging goes through all that matches.
import { useEffect, useId, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Schemas } from "../api/client";
import { useApp } from "../app";
import { Duration, Time } from "../components/time";
import { href, navigate } from "../router";
import { Pager } from "../components/pager";
import { ChoiceFilter, SinceFilter } from "../components/filter-fields";

type View = "executions" | "deployments";
const pageSize = 25;
const executionStatuses: Schemas["ExecutionStatus"][] = ["queued", "running", "succeeded", "failed", "cancelled", "timed_out", "interrupted"];
const deploymentStatuses: Schemas["DeploymentStatus"][] = ["queued", "running", "awaiting_approval", "succeeded", "failed", "cancelled"];

interface Filters {
    view: View;
    checkpoint: string;
    status: string;
    since: string;
}

function filtersOf(query: URLSearchParams): Filters {
    return {
        view: query.get("view") === "deployments" ? "deployments" : "executions",
        checkpoint: query.get("checkpoint") ?? "",
        status: query.get("status") ?? "",
        since: query.get("since") ?? "",
    };
}

function toQuery(filters: Filters): Record<string, string | undefined> {
    return {
        view: filters.view === "deployments" ? "deployments" : undefined,
        checkpoint: filters.checkpoint || undefined,
        status: filters.status || undefined,
        since: filters.since || undefined,
    };
}

/** "Since" as the API's created_after: datetime-local is the browser's local time, as typed. */
function createdAfter(since: string): string | undefined {
    if (!since) return undefined;
    const at = new Date(since);
    // Just before the minute typed, so that what was created at its first millisecond is in.
    return Number.isNaN(at.getTime()) ? undefined : new Date(at.getTime() - 1).toISOString();
}

interface Page<T> {
    items: T[];
    next: string | null;
}

async function loadPage(filters: Filters, cursor: string | null): Promise<Page<Schemas["Execution"]> | Page<Schemas["Deployment"]>> {
    const common = {
        limit: pageSize,
        cursor: cursor ?? undefined,
        checkpoint: filters.checkpoint || undefined,
        created_after: createdAfter(filters.since),
    };
    if (filters.view === "executions") {
        const page = await api.get("/api/v1/executions", {
            query: { ...common, status: (filters.status || undefined) as Schemas["ExecutionStatus"] | undefined },
        });
        return { items: page.executions, next: page.next_cursor };
    }
    const page = await api.get("/api/v1/deployments", {
        query: { ...common, status: (filters.status || undefined) as Schemas["DeploymentStatus"] | undefined },
    });
    return { items: page.deployments, next: page.next_cursor };
}

function ExecutionsTable({ items }: { items: Schemas["Execution"][] }) {
    return (
        <table aria-label="Executions">
            <thead>
                <tr>
                    <th scope="col">Checkpoint</th>
                    <th scope="col">Status</th>
                    <th scope="col">Requested by</th>
                    <th scope="col">Created</th>
                    <th scope="col" class="hide-narrow">Took</th>
                    <th scope="col" class="hide-narrow">Deployment</th>
                </tr>
            </thead>
            <tbody>
                {items.map((execution) => (
                    <tr key={execution.execution_id} data-execution={execution.execution_id}>
                        <td>
                            <a href={href(["runs", execution.execution_id])}>{execution.checkpoint}</a>
                            {execution.params.check && <span class="flag flag-quiet">check</span>}
                        </td>
                        <td>{execution.status}</td>
                        <td>{execution.requested_by ?? "–"}</td>
                        <td>
                            <Time value={execution.created_at} />
                        </td>
                        <td class="hide-narrow">
                            <Duration from={execution.started_at} to={execution.finished_at} />
                        </td>
                        <td class="hide-narrow">
                            {execution.deployment_id ? (
                                <a href={href(["deployments", execution.deployment_id])} class="mono small">
                                    {execution.deployment_id}
                                </a>
                            ) : (
                                <span class="muted">–</span>
                            )}
                        </td>
                    </tr>
                ))}
            </tbody>
        </table>
    );
}

function DeploymentsTable({ items }: { items: Schemas["Deployment"][] }) {
    return (
        <table aria-label="Deployments">
            <thead>
                <tr>
                    <th scope="col">Deployment</th>
                    <th scope="col">Status</th>
                    <th scope="col">Checkpoints</th>
                    <th scope="col">Requested by</th>
                    <th scope="col">Created</th>
                    <th scope="col" class="hide-narrow">Took</th>
                </tr>
            </thead>
            <tbody>
                {items.map((deployment) => (
                    <tr key={deployment.deployment_id} data-deployment={deployment.deployment_id}>
                        <td>
                            <a href={href(["deployments", deployment.deployment_id])} class="mono small">
                                {deployment.deployment_id}
                            </a>
                            {deployment.check && <span class="flag flag-quiet">check</span>}
                        </td>
                        <td>
                            {deployment.status}
                            {deployment.failed_checkpoint && <span class="muted small"> at {deployment.failed_checkpoint}</span>}
                        </td>
                        <td class="small">{deployment.checkpoints.join(", ")}</td>
                        <td>{deployment.requested_by}</td>
                        <td>
                            <Time value={deployment.created_at} />
                        </td>
                        <td class="hide-narrow">
                            <Duration from={deployment.started_at} to={deployment.finished_at} />
                        </td>
                    </tr>
                ))}
            </tbody>
        </table>
    );
}

/** Keyed by its query by the app, so a change of filters starts again from the first page. */
export function HistoryPage({ query }: { query: URLSearchParams }) {
    const { report } = useApp();
    const ids = useId();
    const filters = filtersOf(query);
    const filterKey = JSON.stringify(filters);
    const [checkpoints, setCheckpoints] = useState<string[]>([]);
    // The cursors of the pages before this one, to go back; the API pages forward only.
    const [cursors, setCursors] = useState<(string | null)[]>([]);
    const [cursor, setCursor] = useState<string | null>(null);
    const [page, setPage] = useState<Awaited<ReturnType<typeof loadPage>> | null>(null);

    useEffect(() => {
        api.get("/api/v1/checkpoints").then((catalog) => setCheckpoints(catalog.checkpoints.map((c) => c.name)), report);
    }, []);
    useEffect(() => {
        let current = true;
        setPage(null);
        loadPage(filters, cursor).then((loaded) => current && setPage(loaded), report);
        return () => {
            current = false;
        };
    }, [filterKey, cursor]);

    const update = (change: Partial<Filters>) => navigate(href(["history"], toQuery({ ...filters, ...change })));
    const statuses = filters.view === "executions" ? executionStatuses : deploymentStatuses;

    return (
        <>
            <h1>History</h1>
            <nav aria-label="History views" class="tabs">
                <a href={href(["history"], toQuery({ ...filters, view: "executions", status: "" }))} aria-current={filters.view === "executions" ? "page" : undefined}>
                    Executions
                </a>
                <a href={href(["history"], toQuery({ ...filters, view: "deployments", status: "" }))} aria-current={filters.view === "deployments" ? "page" : undefined}>
                    Deployments
                </a>
            </nav>
            <form class="filters" onSubmit={(e) => e.preventDefault()}>
                <ChoiceFilter id={`${ids}-cp`} label="Checkpoint" value={filters.checkpoint} options={checkpoints} onChange={(checkpoint) => update({ checkpoint })} />
                <ChoiceFilter id={`${ids}-status`} label="Status" value={filters.status} options={statuses} onChange={(status) => update({ status })} />
                <SinceFilter id={`${ids}-since`} value={filters.since} onChange={(since) => update({ since })} />
            </form>
            <div class="table-wrap">
                {!page ? (
                    <p class="muted">Loading…</p>
                ) : filters.view === "executions" ? (
                    <ExecutionsTable items={page.items as Schemas["Execution"][]} />
                ) : (
                    <DeploymentsTable items={page.items as Schemas["Deployment"][]} />
                )}
                {page && page.items.length === 0 && <p class="muted">Nothing matches these filters.</p>}
            </div>
            <Pager cursor={cursor} cursors={cursors} next={page?.next} setCursor={setCursor} setCursors={setCursors} />
        </>
    );
}
