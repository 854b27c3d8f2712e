// The WebSocket event feed (GET /api/v1/events). A browser cannot send Authorization on a
// WebSocket, so each connection first gets a one-time ticket (POST /api/v1/events/tickets), never
// putting the token in a URL. After a drop it reconnects with backoff and `since=<last seq seen>`:
// the service replays what was missed, and a seq already seen is dropped, so nothing is lost or
// seen twice.
import { api, ApiError } from "./client";
import type { Schemas } from "./client";

export type FeedEvent = Schemas["Event"] & { [field: string]: unknown };
export type FeedStatus = "connecting" | "live" | "reconnecting" | "closed";

export interface FeedOptions {
    /** Replay the stored events after this seq first; without it only new events come. */
    since?: number;
    executionId?: string;
    /** Exact types or `prefix.*`. */
    types?: string[];
    onEvent: (event: FeedEvent) => void;
    onStatus?: (status: FeedStatus, problem?: string) => void;
    /** Each time a connection is up (pages without `since` reload what they show then). */
    onOpen?: (reconnected: boolean) => void;
}

export interface Feed {
    close(): void;
    lastSeq(): number | null;
}

const firstDelayMs = 500;
const longestDelayMs = 10_000;
// A connection that stayed up this long counts as healthy: the next drop starts the backoff over.
const healthyAfterMs = 5_000;

function feedUrl(since: number | null, options: FeedOptions, ticket: string): string {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams();
    if (since !== null) query.set("since", String(since));
    if (options.executionId) query.set("execution_id", options.executionId);
    if (options.types?.length) query.set("types", options.types.join(","));
    query.set("ticket", ticket);
    return `${scheme}//${location.host}/api/v1/events?${query.toString()}`;
}

export function openFeed(options: FeedOptions): Feed {
    let since: number | null = options.since ?? null;
    let socket: WebSocket | null = null;
    let timer: number | undefined;
    let closed = false;
    let attempts = 0;
    let everOpen = false;
    let openedAt = 0;

    const status = (value: FeedStatus, problem?: string) => options.onStatus?.(value, problem);

    const scheduleReconnect = (problem?: string) => {
        if (closed) return;
        status("reconnecting", problem);
        const delay = Math.min(longestDelayMs, firstDelayMs * 2 ** attempts) * (0.8 + Math.random() * 0.4);
        attempts += 1;
        timer = window.setTimeout(connect, delay);
    };

    async function connect(): Promise<void> {
        if (closed) return;
        let ticket: string;
        try {
            ticket = (await api.post("/api/v1/events/tickets")).ticket;
        } catch (error) {
            const problem = error instanceof ApiError ? error.describe() : String(error);
            scheduleReconnect(problem);
            return;
        }
        if (closed) return;
        const ws = new WebSocket(feedUrl(since, options, ticket), ["raydeploy"]);
        socket = ws;
        ws.onopen = () => {
            openedAt = Date.now();
            status("live");
            options.onOpen?.(everOpen);
            everOpen = true;
        };
        ws.onmessage = (message: MessageEvent) => {
            if (typeof message.data !== "string") return;
            let event: FeedEvent;
            try {
                event = JSON.parse(message.data) as FeedEvent;
            } catch {
                return;
            }
            if (since !== null && event.seq <= since) return;
            since = event.seq;
            options.onEvent(event);
        };
        ws.onclose = (close: CloseEvent) => {
            if (socket === ws) socket = null;
            if (closed) return;
            if (openedAt && Date.now() - openedAt >= healthyAfterMs) attempts = 0;
            openedAt = 0;
            scheduleReconnect(close.reason || undefined);
        };
    }

    status("connecting");
    void connect();
    return {
        close() {
            closed = true;
            window.clearTimeout(timer);
            socket?.close(1000, "page closed");
            socket = null;
            status("closed");
        },
        lastSeq: () => since,
    };
}

/** One shared feed of every event, for the pages that refresh on changes. */
export class EventHub {
    private readonly listeners = new Set<(event: FeedEvent) => void>();
    private readonly openListeners = new Set<() => void>();
    private readonly feed: Feed;

    constructor() {
        this.feed = openFeed({
            onEvent: (event) => this.listeners.forEach((listener) => listener(event)),
            onOpen: () => this.openListeners.forEach((listener) => listener()),
        });
    }

    /** Calls `listener` with every event, and `onReconnect` whenever a connection comes up. */
    subscribe(listener: (event: FeedEvent) => void, onReconnect?: () => void): () => void {
        this.listeners.add(listener);
        if (onReconnect) this.openListeners.add(onReconnect);
        return () => {
            this.listeners.delete(listener);
            if (onReconnect) this.openListeners.delete(onReconnect);
        };
    }

    close(): void {
        this.feed.close();
    }
}
