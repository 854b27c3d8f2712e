// The shell: who is signed in, the header and navigation, the page for the current route, and
// one shared event feed that pages listen to.
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, setUnauthenticatedHandler, whoami } from "./api/client";
import { EventHub } from "./api/feed";
import { Alert } from "./components/alert";
import { ApprovalsPage } from "./pages/approvals";
import { AuditPage } from "./pages/audit";
import { ClusterPage } from "./pages/cluster";
import { DeploymentPage } from "./pages/deployment";
import { ExecutionPage } from "./pages/execution";
import { HistoryPage } from "./pages/history";
import { PipelinePage } from "./pages/pipeline";
import { SignInPage } from "./pages/signin";
import { navigate, useRoute } from "./router";
import type { Route } from "./router";
import { can, getToken, setToken } from "./session";
import type { Identity } from "./session";

export interface AppContextValue {
    identity: Identity;
    hub: EventHub;
    /** Shows a failure in the page's alert (a 401 also sends the person to sign in). */
    report: (error: unknown) => void;
}

const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
    const value = useContext(AppContext);
    if (!value) throw new Error("useApp outside the signed-in app");
    return value;
}

type Phase = { kind: "checking" } | { kind: "signed-out"; reason: string | null } | { kind: "signed-in"; identity: Identity };

function Header(props: { identity: Identity | null; route: Route; onSignOut: () => void }) {
    const section = props.route.segments[0] ?? "";
    const current = (name: string) => (section === name ? "page" : undefined);
    const { identity } = props;
    return (
        <header class="top">
            <a class="brand" href="#/">
                raydeploy
            </a>
            <nav aria-label="Main">
                <a href="#/" aria-current={section === "" || section === "deployments" || section === "runs" ? "page" : undefined}>
                    Pipeline
                </a>
                <a href="#/approvals" aria-current={current("approvals")}>
                    Approvals
                </a>
                <a href="#/history" aria-current={current("history")}>
                    History
                </a>
                <a href="#/cluster" aria-current={current("cluster")}>
                    Cluster
                </a>
                {can(identity, "admin") && (
                    <a href="#/audit" aria-current={current("audit")}>
                        Audit
                    </a>
                )}
                <a href="/docs">API docs</a>
            </nav>
            {identity && (
                <div class="who">
                    <span>
                        Signed in as {identity.name} ({identity.role})
                    </span>
                    {identity.open_mode ? (
                        <span class="muted small" title="No tokens are configured: every caller is local, with the admin role">
                            open mode
                        </span>
                    ) : (
                        <button type="button" onClick={props.onSignOut}>
                            Sign out
                        </button>
                    )}
                </div>
            )}
        </header>
    );
}

function Page({ route }: { route: Route }) {
    const { identity } = useApp();
    const [section = "", id] = route.segments;
    switch (section) {
        case "":
            return <PipelinePage />;
        case "runs":
            return id ? <ExecutionPage key={id} executionId={id} /> : <NotFound />;
        case "deployments":
            return id ? <DeploymentPage key={id} deploymentId={id} /> : <NotFound />;
        case "approvals":
            return <ApprovalsPage checkpoint={id ?? null} />;
        case "history":
            return <HistoryPage key={route.query.toString()} query={route.query} />;
        case "cluster":
            return <ClusterPage />;
        case "audit":
            return can(identity, "admin") ? (
                <AuditPage />
            ) : (
                <>
                    <h1>Audit trail</h1>
                    <Alert error={`The audit trail needs the admin role; you are signed in as ${identity.name} (${identity.role}).`} />
                </>
            );
        default:
            return <NotFound />;
    }
}

function NotFound() {
    return (
        <>
            <h1>Not found</h1>
            <p>
                This address names no page of raydeploy. Go to the <a href="#/">pipeline</a>.
            </p>
        </>
    );
}

export function App() {
    const route = useRoute();
    const [phase, setPhase] = useState<Phase>({ kind: "checking" });
    const [error, setError] = useState<unknown>(null);
    const mainRef = useRef<HTMLElement>(null);

    const checkIdentity = useCallback(async () => {
        const hadToken = getToken() !== null;
        try {
            setPhase({ kind: "signed-in", identity: await whoami() });
        } catch (failure) {
            if (failure instanceof ApiError && failure.status === 401) {
                // A first visit without a token is no failure: it is what the sign-in page is for.
                setToken(null);
                setPhase({ kind: "signed-out", reason: hadToken ? failure.describe() : null });
            } else {
                setPhase({ kind: "signed-out", reason: null });
                setError(failure);
            }
        }
    }, []);

    useEffect(() => {
        setUnauthenticatedHandler((failure) => {
            setToken(null);
            setPhase({ kind: "signed-out", reason: failure.describe() });
        });
        void checkIdentity();
    }, [checkIdentity]);

    const identity = phase.kind === "signed-in" ? phase.identity : null;
    const hub = useMemo(() => (identity ? new EventHub() : null), [identity]);
    useEffect(() => () => hub?.close(), [hub]);

    // A new page starts without the last page's error, with focus at its top for keyboard users.
    // The approval dialog is part of the approvals page: opening or closing it is no new page.
    const routeKey = route.segments[0] === "approvals" ? "approvals" : route.segments.join("/");
    const firstRender = useRef(true);
    useEffect(() => {
        setError(null);
        if (firstRender.current) {
            firstRender.current = false;
            return;
        }
        mainRef.current?.focus();
    }, [routeKey]);

    useEffect(() => {
        if (identity?.open_mode && route.segments[0] === "signin") navigate("#/");
    }, [identity, routeKey]);

    const signOut = () => {
        setToken(null);
        setPhase({ kind: "signed-out", reason: null });
        navigate("#/signin");
    };

    const onSignedIn = (signedIn: Identity) => {
        setError(null);
        setPhase({ kind: "signed-in", identity: signedIn });
        if (route.segments[0] === "signin") navigate("#/");
    };

    const context = useMemo(() => (identity && hub ? { identity, hub, report: setError } : null), [identity, hub]);

    let content;
    if (phase.kind === "checking") content = <p class="muted">Loading…</p>;
    else if (phase.kind === "signed-out" || route.segments[0] === "signin" || !context)
        content = <SignInPage reason={phase.kind === "signed-out" ? phase.reason : null} onSignedIn={onSignedIn} />;
    else content = <Page route={route} />;

    return (
        <AppContext.Provider value={context}>
            <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), mainRef.current?.focus())}>
                Skip to content
            </a>
            <Header identity={identity} route={route} onSignOut={signOut} />
            <main id="main" ref={mainRef} tabIndex={-1}>
                <Alert error={error} />
                {content}
            </main>
        </AppContext.Provider>
    );
}
