// One execution followed from its events: status, current play and task, counts per host, the
// log by line number, and the events themselves.
//
// Events come first from GET /api/v1/executions/{id}/events (the stored ones), then from the
// WebSocket feed from the last seq seen on. An execution's events are numbered by `counter` with
// no gap, so an event already applied is skipped and a jump in counters is filled from the REST
// pages before going on. Log lines are kept by their line number (an Ansible event's stdout is
// lines start_line..end_line of the log), and the stored log fills whatever the events do not
// carry (cut output, output of non-Ansible runs): no line is lost or shown twice.
import { api } from "./api/client";
import type { Schemas } from "./api/client";
import { openFeed } from "./api/feed";
import type { Feed, FeedEvent, FeedStatus } from "./api/feed";

export type Execution = Schemas["Execution"];
export type HostCounts = Schemas["HostCounts"];

const finalStatuses: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled", "timed_out", "interrupted"]);
const eventsPageSize = 1000;
const logSyncIntervalMs = 1000;

export function isFinal(status: string): boolean {
    return finalStatuses.has(status);
}

export interface RunSnapshot {
    execution: Execution;
    hosts: Record<string, HostCounts>;
    play: string;
    task: string;
    lines: readonly (string | undefined)[];
    events: readonly FeedEvent[];
    feed: FeedStatus;
    report: string | null;
    problem: string | null;
}

function emptyCounts(): HostCounts {
    return { ok: 0, changed: 0, failures: 0, unreachable: 0, skipped: 0, rescued: 0, ignored: 0 };
}

function text(value: unknown): string {
    return typeof value === "string" ? value : "";
}

function record(value: unknown): Record<string, unknown> {
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export class RunTracker {
    private execution: Execution;
    private hosts: Record<string, HostCounts>;
    private play: string;
    private task: string;
    private readonly lines: (string | undefined)[] = [];
    private firstMissingLine = 0;
    private readonly events: FeedEvent[] = [];
    private lastCounter = 0;
    private lastSeq: number | null = null;
    private feed: Feed | null = null;
    private feedStatus: FeedStatus = "connecting";
    private report: string | null = null;
    private problem: string | null = null;
    private readonly queue: FeedEvent[] = [];
    private draining = false;
    private stopped = false;
    private logSyncTimer: number | undefined;
    private logSyncRunning: Promise<void> | null = null;
    private notifyScheduled = false;
    private finished = false;
    private refreshExecution = false;

    constructor(
        execution: Execution,
        private readonly onChange: (snapshot: RunSnapshot) => void,
    ) {
        this.execution = execution;
        this.hosts = { ...execution.host_summary };
        this.play = execution.progress.play ?? "";
        this.task = execution.progress.task ?? "";
    }

    snapshot(): RunSnapshot {
        return {
            execution: this.execution,
            hosts: this.hosts,
            play: this.play,
            task: this.task,
            lines: this.lines,
            events: this.events,
            feed: this.feedStatus,
            report: this.report,
            problem: this.problem,
        };
    }

    async start(): Promise<void> {
        // The counts are rebuilt from the events, which start from the beginning.
        this.hosts = {};
        await this.loadStoredEvents();
        if (this.stopped) return;
        if (isFinal(this.execution.status)) {
            await this.finish();
            return;
        }
        this.feed = openFeed({
            since: this.lastSeq ?? 0,
            executionId: this.execution.execution_id,
            onEvent: (event) => this.enqueue(event),
            onStatus: (status, problem) => {
                // Once the run has ended the view is complete: the closed feed is no news.
                if (status === "closed") return;
                this.feedStatus = status;
                this.problem = status === "reconnecting" && problem ? problem : null;
                this.notify();
            },
        });
    }

    stop(): void {
        this.stopped = true;
        this.feed?.close();
        this.feed = null;
        window.clearTimeout(this.logSyncTimer);
    }

    private notify(): void {
        if (this.notifyScheduled || this.stopped) return;
        this.notifyScheduled = true;
        requestAnimationFrame(() => {
            this.notifyScheduled = false;
            if (!this.stopped) this.onChange(this.snapshot());
        });
    }

    private async loadStoredEvents(): Promise<void> {
        let since = this.lastCounter;
        for (;;) {
            const page = await api.get("/api/v1/executions/{id}/events", {
                path: { id: this.execution.execution_id },
                query: { since_counter: since, limit: eventsPageSize },
            });
            for (const event of page.events) this.apply(event as FeedEvent);
            if (page.next_since_counter === null || page.events.length === 0) break;
            since = page.next_since_counter;
        }
        this.notify();
    }

    private enqueue(event: FeedEvent): void {
        this.queue.push(event);
        if (!this.draining) void this.drain();
    }

    private async drain(): Promise<void> {
        this.draining = true;
        try {
            while (this.queue.length > 0 && !this.stopped) {
                const event = this.queue.shift() as FeedEvent;
                const counter = typeof event.counter === "number" ? event.counter : null;
                if (counter !== null && counter > this.lastCounter + 1) await this.loadStoredEvents();
                this.apply(event);
                if (isFinal(this.execution.status) && !this.finished) await this.finish();
            }
        } catch (error) {
            this.problem = `Could not read the run's events: ${(error as Error).message}. Reload the page.`;
        } finally {
            this.draining = false;
            this.notify();
        }
    }

    private apply(event: FeedEvent): void {
        if (typeof event.counter === "number") {
            if (event.counter <= this.lastCounter) return;
            this.lastCounter = event.counter;
        }
        if (this.lastSeq === null || event.seq > this.lastSeq) this.lastSeq = event.seq;
        this.events.push(event);
        const type = event.type;
        if (type === "execution.status" || type === "execution.done") {
            const status = text(event.status);
            if (status) this.execution = { ...this.execution, status: status as Execution["status"] };
        } else if (type.startsWith("ansible.")) {
            this.applyAnsible(event);
        } else if (type.startsWith("cml.")) {
            // CML steps write their lines to the log without line numbers in the events, and
            // their per-job counts are the service's own: both are read back.
            this.refreshExecution = true;
            this.scheduleLogSync();
        }
        this.notify();
    }

    private count(host: string, key: keyof HostCounts): void {
        if (!host) return;
        const counts = (this.hosts[host] ??= emptyCounts());
        counts[key] += 1;
    }

    // The same counting as the service's (engine/progress.cpp), so the grid moves with the run.
    private applyAnsible(event: FeedEvent): void {
        const name = text(event.event);
        const data = record(event.event_data);
        const host = text(data.host);
        if (name === "playbook_on_play_start") {
            this.play = text(data.play) || text(data.name);
        } else if (name === "playbook_on_task_start" || name === "playbook_on_handler_task_start") {
            this.task = text(data.task) || text(data.name);
        } else if (name === "runner_on_ok") {
            this.count(host, "ok");
            if (data.changed === true || record(data.res).changed === true) this.count(host, "changed");
        } else if (name === "runner_on_skipped") {
            this.count(host, "skipped");
        } else if (name === "runner_on_failed") {
            this.count(host, data.ignore_errors === true ? "ignored" : "failures");
        } else if (name === "runner_on_unreachable") {
            this.count(host, "unreachable");
        } else if (name === "playbook_on_stats") {
            const recap: Record<string, HostCounts> = {};
            const keys: [string, keyof HostCounts][] = [
                ["ok", "ok"],
                ["changed", "changed"],
                ["failures", "failures"],
                ["dark", "unreachable"],
                ["skipped", "skipped"],
                ["rescued", "rescued"],
                ["ignored", "ignored"],
            ];
            for (const [source, target] of keys)
                for (const [hostName, value] of Object.entries(record(data[source])))
                    (recap[hostName] ??= emptyCounts())[target] = typeof value === "number" ? value : 0;
            for (const hostName of Object.keys(record(data.processed))) recap[hostName] ??= emptyCounts();
            this.hosts = recap;
        }
        this.applyLines(event);
    }

    private applyLines(event: FeedEvent): void {
        const start = typeof event.start_line === "number" ? event.start_line : null;
        const end = typeof event.end_line === "number" ? event.end_line : null;
        if (start === null || end === null || end <= start) return;
        const stdout = text(event.stdout);
        const lines = stdout.split("\n");
        const whole = event.truncated !== true && lines.length === end - start;
        if (whole) for (let i = 0; i < lines.length; ++i) this.setLine(start + i, (lines[i] as string).replace(/\r$/, ""));
        if (!whole || start > this.firstMissingLine) this.scheduleLogSync();
    }

    private setLine(index: number, value: string): void {
        this.lines[index] = value;
        while (this.lines[this.firstMissingLine] !== undefined) this.firstMissingLine += 1;
    }

    private scheduleLogSync(): void {
        if (this.logSyncTimer !== undefined || this.stopped) return;
        this.logSyncTimer = window.setTimeout(() => {
            this.logSyncTimer = undefined;
            void this.syncLog(false);
            if (this.refreshExecution) void this.readExecution();
        }, logSyncIntervalMs);
    }

    private async readExecution(): Promise<void> {
        this.refreshExecution = false;
        try {
            const execution = await api.get("/api/v1/executions/{id}", { path: { id: this.execution.execution_id } });
            if (this.finished) return;
            this.execution = { ...execution, status: this.execution.status };
            this.hosts = { ...execution.host_summary };
            this.notify();
        } catch {
            // The next event tries again; the final read happens when the run ends.
            this.refreshExecution = true;
        }
    }

    /** Fills lines from the stored log; while the run goes, its last unfinished line waits. */
    private syncLog(complete: boolean): Promise<void> {
        const previous = this.logSyncRunning ?? Promise.resolve();
        const run = previous.then(async () => {
            const log = await api.text("/api/v1/executions/{id}/log", "text/plain", {
                path: { id: this.execution.execution_id },
            });
            const lines = log.split("\n");
            if (log.endsWith("\n")) lines.pop();
            else if (!complete) lines.pop();
            lines.forEach((line, index) => this.setLine(index, line.replace(/\r$/, "")));
            this.notify();
        });
        this.logSyncRunning = run.catch(() => {});
        return run;
    }

    /** The run ended: the stored execution (results, final counts) and log are the last word. */
    private async finish(): Promise<void> {
        this.finished = true;
        this.feed?.close();
        this.feed = null;
        this.feedStatus = "live";
        window.clearTimeout(this.logSyncTimer);
        this.logSyncTimer = undefined;
        try {
            const execution = await api.get("/api/v1/executions/{id}", { path: { id: this.execution.execution_id } });
            this.execution = execution;
            if (Object.keys(execution.host_summary).length > 0) this.hosts = { ...execution.host_summary };
            await this.syncLog(true);
            if (execution.has_report) {
                this.report = await api.text("/api/v1/executions/{id}/report", "text/markdown", {
                    path: { id: execution.execution_id },
                    query: { format: "markdown" },
                });
            }
        } catch (error) {
            this.problem = `Could not read the finished run: ${(error as Error).message}. Reload the page.`;
        }
        this.notify();
    }
}
