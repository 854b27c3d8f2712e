// Hash routing: `/` is the only page the service serves, everything else is after the `#`.
import { useEffect, useState } from "preact/hooks";

export interface Route {
    /** Path segments, decoded: `#/runs/ex-1` is ["runs", "ex-1"]. */
    segments: string[];
    query: URLSearchParams;
}

export function parseHash(hash: string): Route {
    const text = hash.replace(/^#/, "");
    const [pathPart = "", queryPart = ""] = text.split("?", 2);
    const segments = pathPart
        .split("/")
        .filter((segment) => segment !== "")
        .map((segment) => {
            try {
                return decodeURIComponent(segment);
            } catch {
                return segment;
            }
        });
    return { segments, query: new URLSearchParams(queryPart) };
}

export function href(segments: string[], query?: Record<string, string | undefined>): string {
    const path = segments.map(encodeURIComponent).join("/");
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) if (value) search.set(key, value);
    const text = search.toString();
    return `#/${path}${text ? `?${text}` : ""}`;
}

export function navigate(target: string): void {
    if (location.hash !== target) location.hash = target;
}

export function useRoute(): Route {
    const [route, setRoute] = useState(() => parseHash(location.hash));
    useEffect(() => {
        const update = () => setRoute(parseHash(location.hash));
        window.addEventListener("hashchange", update);
        return () => window.removeEventListener("hashchange", update);
    }, []);
    return route;
}
