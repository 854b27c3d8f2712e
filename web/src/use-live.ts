// Pages that show lists reload them when the shared feed says something changed (a burst of
// events makes one reload), and after the feed reconnects, since events may have been missed.
import { useEffect, useRef } from "preact/hooks";
import type { FeedEvent } from "./api/feed";
import { useApp } from "./app";

export function useLiveReload(reload: () => unknown, matches: (event: FeedEvent) => boolean, delayMs = 300): void {
    const { hub } = useApp();
    const latest = useRef({ reload, matches });
    latest.current = { reload, matches };
    useEffect(() => {
        let timer: number | undefined;
        const schedule = () => {
            window.clearTimeout(timer);
            timer = window.setTimeout(() => void latest.current.reload(), delayMs);
        };
        const unsubscribe = hub.subscribe(
            (event) => {
                if (latest.current.matches(event)) schedule();
            },
            schedule,
        );
        return () => {
            unsubscribe();
            window.clearTimeout(timer);
        };
    }, [hub, delayMs]);
}
