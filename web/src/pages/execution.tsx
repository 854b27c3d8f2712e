// One execution, live: status, current play and task, the host grid, the log as it is written,
// and once it ended its results per node and its report.
import { Component } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import type { FeedEvent } from "../api/feed";
import { useApp } from "../app";
import { Alert } from "../components/alert";
import { renderAnsi } from "../components/ansi";
import { Markdown } from "../components/markdown";
import { Duration, Time } from "../components/time";
import { href } from "../router";
import { isFinal, RunTracker } from "../run-tracker";
import type { HostCounts, RunSnapshot } from "../run-tracker";
import { can } from "../session";

class LogLine extends Component<{ n: number; text: string }> {
    override shouldComponentUpdate(next: { n: number; text: string }) {
        return next.text !== this.props.text || next.n !== this.props.n;
    }
    override render() {
        return <div data-line={this.props.n}>{renderAnsi(this.props.text)}</div>;
    }
}

function LogView({ lines, live }: { lines: readonly (string | undefined)[]; live: boolean }) {
    const ref = useRef<HTMLDivElement>(null);
    const following = useRef(true);
    // Keep the newest line in view while the reader is at the bottom; leave them be when they
    // scrolled up to read.
    useLayoutEffect(() => {
        const element = ref.current;
        if (element && following.current) element.scrollTop = element.scrollHeight;
    }, [lines.length, lines]);
    const onScroll = () => {
        const element = ref.current;
        if (element) following.current = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
    };
    const rendered = [];
    for (let i = 0; i < lines.length; ++i) {
        const line = lines[i];
        if (line !== undefined) rendered.push(<LogLine key={i} n={i + 1} text={line} />);
    }
    // Every child of the log is a line: the empty state is said beside it.
    return (
        <>
            {rendered.length === 0 && <p class="muted small">{live ? "Waiting for output…" : "No output."}</p>}
            <div ref={ref} class="log" role="log" aria-label="Log" tabIndex={0} onScroll={onScroll}>
                {rendered}
            </div>
        </>
    );
}

const columns: [keyof HostCounts, string][] = [
    ["ok", "ok"],
    ["changed", "changed"],
    ["failures", "failed"],
    ["unreachable", "unreachable"],
    ["skipped", "skipped"],
];

function HostGrid({ hosts }: { hosts: Record<string, HostCounts> }) {
    const names = Object.keys(hosts).sort();
    return (
        <div class="table-wrap">
            <table aria-label="Hosts" class="hosts">
                <thead>
                    <tr>
                        <th scope="col">Host</th>
                        {columns.map(([, label]) => (
                            <th scope="col" class="num" key={label}>
                                {label}
                            </th>
                        ))}
                        <th scope="col" class="num hide-narrow">rescued</th>
                        <th scope="col" class="num hide-narrow">ignored</th>
                    </tr>
                </thead>
                <tbody>
                    {names.length === 0 && (
                        <tr>
                            <td colSpan={8} class="muted">
                                No host has reported yet.
                            </td>
                        </tr>
                    )}
                    {names.map((host) => {
                        const counts = hosts[host] as HostCounts;
                        return (
                            <tr key={host} data-host={host}>
                                <th scope="row">{host}</th>
                                {columns.map(([key, label]) => {
                                    const value = counts[key];
                                    const tone =
                                        value === 0
                                            ? "muted"
                                            : key === "ok"
                                              ? "host-ok"
                                              : key === "changed"
                                                ? "host-changed"
                                                : key === "skipped"
                                                  ? ""
                                                  : "host-bad";
                                    return (
                                        <td key={label} class={`num ${tone}`} data-count={label}>
                                            {value}
                                        </td>
                                    );
                                })}
                                <td class="num hide-narrow">{counts.rescued}</td>
                                <td class="num hide-narrow">{counts.ignored}</td>
                            </tr>
                        );
                    })}
                </tbody>
            </table>
        </div>
    );
}

function Json({ value }: { value: unknown }) {
    return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}

function Results({ results }: { results: RunSnapshot["execution"]["results"] }) {
    const nodes = Object.entries(results.nodes);
    if (nodes.length === 0 && results.summary === null && !results.warnings?.length) return null;
    return (
        <section>
            <h2>Results</h2>
            {results.warnings?.map((warning) => (
                <p class="notice" key={warning}>
                    {warning}
                </p>
            ))}
            {nodes.length > 0 && (
                <div class="table-wrap">
                    <table aria-label="Results per node">
                        <thead>
                            <tr>
                                <th scope="col">Node</th>
                                <th scope="col">Published facts</th>
                            </tr>
                        </thead>
                        <tbody>
                            {nodes.map(([host, facts]) => (
                                <tr key={host} data-host={host}>
                                    <th scope="row">{host}</th>
                                    <td>
                                        {facts !== null && typeof facts === "object" && !Array.isArray(facts) ? (
                                            <dl class="facts-list">
                                                {Object.entries(facts as Record<string, unknown>).flatMap(([key, value]) => [
                                                    <dt key={`${key}-k`}>{key}</dt>,
                                                    <dd key={`${key}-v`} class="mono">
                                                        {typeof value === "string" ? value : JSON.stringify(value)}
                                                    </dd>,
                                                ])}
                                            </dl>
                                        ) : (
                                            <Json value={facts} />
                                        )}
                                    </td>
                                </tr>
                            ))}
                        </tbody>
                    </table>
                </div>
            )}
            {results.summary !== null && results.summary !== undefined && (
                <>
                    <h3>Summary</h3>
                    <Json value={results.summary} />
                </>
            )}
        </section>
    );
}

function eventSummary(event: FeedEvent): string {
    const data = (event.event_data ?? {}) as Record<string, unknown>;
    const parts = [data.host, data.task ?? data.play, event.status, event.new_status].filter(
        (part) => typeof part === "string" && part !== "",
    );
    return parts.join(" · ");
}

function EventsTable({ events }: { events: readonly FeedEvent[] }) {
    const [open, setOpen] = useState(false);
    const shown = events.slice(-2000);
    return (
        <details onToggle={(e) => setOpen(e.currentTarget.open)}>
            <summary>
                Events ({events.length}){events.length > shown.length ? `, the last ${shown.length} shown` : ""}
            </summary>
            {open && (
                <div class="table-wrap">
                    <table aria-label="Events">
                        <thead>
                            <tr>
                                <th scope="col" class="num">#</th>
                                <th scope="col">Time</th>
                                <th scope="col">Type</th>
                                <th scope="col">About</th>
                            </tr>
                        </thead>
                        <tbody>
                            {shown.map((event) => (
                                <tr key={event.seq}>
                                    <td class="num">{event.counter ?? ""}</td>
                                    <td class="small">
                                        <Time value={event.created} />
                                    </td>
                                    <td class="mono small">{event.type}</td>
                                    <td class="small">{eventSummary(event)}</td>
                                </tr>
                            ))}
                        </tbody>
                    </table>
                </div>
            )}
        </details>
    );
}

export function ExecutionPage({ executionId }: { executionId: string }) {
    const { identity, report } = useApp();
    const [run, setRun] = useState<RunSnapshot | null>(null);
    const [cancelError, setCancelError] = useState<unknown>(null);
    const [cancelling, setCancelling] = useState(false);

    useEffect(() => {
        let tracker: RunTracker | null = null;
        let gone = false;
        api.get("/api/v1/executions/{id}", { path: { id: executionId } }).then((execution) => {
            if (gone) return;
            tracker = new RunTracker(execution, setRun);
            setRun(tracker.snapshot());
            tracker.start().catch(report);
        }, report);
        return () => {
            gone = true;
            tracker?.stop();
        };
    }, [executionId]);

    if (!run) return <p class="muted">Loading execution {executionId}…</p>;
    const { execution } = run;
    const live = !isFinal(execution.status);
    const params = execution.params;

    async function cancel() {
        setCancelling(true);
        setCancelError(null);
        try {
            await api.post("/api/v1/executions/{id}/cancel", { path: { id: executionId } });
        } catch (failure) {
            setCancelError(failure);
        } finally {
            setCancelling(false);
        }
    }

    return (
        <>
            <div class="page-head">
                <h1>
                    {execution.checkpoint} <span class="muted small mono">{execution.execution_id}</span>
                </h1>
                {live && can(identity, "operator") && (
                    <button type="button" class="danger" onClick={cancel} disabled={cancelling}>
                        Cancel run
                    </button>
                )}
            </div>
            <Alert error={cancelError} />
            {run.problem && <p class="notice">{run.problem}</p>}
            <dl class="facts-list">
                <dt>Status</dt>
                <dd>
                    <strong data-testid="run-status" class={`status status-${execution.status}`}>
                        {execution.status}
                    </strong>
                    {execution.status_reason && <span class="muted"> – {execution.status_reason}</span>}
                </dd>
                <dt>Now</dt>
                <dd data-testid="current-task">
                    {run.play || run.task ? [run.play, run.task].filter(Boolean).join(" › ") : "–"}
                </dd>
                <dt>Feed</dt>
                <dd>
                    <span data-testid="live-status" class={`feed feed-${run.feed}`}>
                        {run.feed}
                    </span>
                </dd>
                {execution.error && (
                    <>
                        <dt>Error</dt>
                        <dd class="destructive-text">
                            {[execution.error.task && `task ${execution.error.task}`, execution.error.host && `on ${execution.error.host}`]
                                .filter(Boolean)
                                .join(" ")}
                            {execution.error.task || execution.error.host ? ": " : ""}
                            {execution.error.message}
                        </dd>
                    </>
                )}
                <dt>Requested by</dt>
                <dd>{execution.requested_by ?? "–"}</dd>
                {execution.deployment_id && (
                    <>
                        <dt>Deployment</dt>
                        <dd>
                            <a href={href(["deployments", execution.deployment_id])}>{execution.deployment_id}</a>
                        </dd>
                    </>
                )}
                <dt>Created</dt>
                <dd>
                    <Time value={execution.created_at} />
                </dd>
                <dt>Ran</dt>
                <dd>
                    <Time value={execution.started_at} /> for <Duration from={execution.started_at} to={execution.finished_at} />
                    {execution.rc !== null && <span class="muted"> (exit code {execution.rc})</span>}
                </dd>
                <dt>Parameters</dt>
                <dd>
                    {params.check ? "check mode" : "real run"}, {params.limit ? `limit ${params.limit}` : "every host"}
                    {Object.keys(params.extra_vars).length > 0 && <Json value={params.extra_vars} />}
                </dd>
            </dl>
            <h2>Hosts</h2>
            <HostGrid hosts={run.hosts} />
            <h2>Log</h2>
            <LogView lines={run.lines} live={live} />
            <Results results={execution.results} />
            {run.report !== null && (
                <section>
                    <h2>Report</h2>
                    <Markdown text={run.report} />
                </section>
            )}
            <h2>Events</h2>
            <EventsTable events={run.events} />
        </>
    );
}
