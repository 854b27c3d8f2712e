// Pending approval requests and live grants; `#/approvals/{checkpoint}` opens the decision dialog
// for that checkpoint directly (the link an approver gets in a chat message).
import { useEffect, useId, useState } from "preact/hooks";
import { api, ApiError, sentence } from "../api/client";
import type { Schemas } from "../api/client";
import { useApp } from "../app";
import { Alert, describeError } from "../components/alert";
import { Dialog } from "../components/dialog";
import { LiveImpact, listsRunningWork } from "../components/live-impact";
import { Time } from "../components/time";
import { href, navigate } from "../router";
import { can } from "../session";
import { useLiveReload } from "../use-live";

type Approval = Schemas["Approval"];
type ApprovalCheck = Schemas["ApprovalCheck"];

function Params({ params }: { params: Approval["params"] }) {
    const vars = Object.entries(params.extra_vars);
    return (
        <span>
            {params.check ? "check mode" : "real run"}, {params.limit ? `limit ${params.limit}` : "every host"}
            {vars.length > 0 && (
                <>
                    , extra variables: <code>{vars.map(([name, value]) => `${name}=${JSON.stringify(value)}`).join(", ")}</code>
                </>
            )}
        </span>
    );
}

function RequestedFor({ approval }: { approval: Approval }) {
    return approval.deployment_id ? (
        <>
            deployment <a href={href(["deployments", approval.deployment_id])}>{approval.deployment_id}</a>
        </>
    ) : (
        <>a run of its own</>
    );
}

function refusalText(error: unknown): string {
    if (error instanceof ApiError && error.code === "FOUR_EYES")
        return `${sentence(error.message)} The four-eyes rule needs a second person: send another approver this page's address (${location.href}); it opens this dialog for them.`;
    if (error instanceof ApiError && error.code === "IDENTITY_MISMATCH")
        return `${sentence(error.message)} Leave the approver's name as the signed-in identity.`;
    return describeError(error);
}

function ApprovalDialog(props: { checkpoint: string; onClose: () => void; onDecided: (message: string) => void }) {
    const { identity, hub } = useApp();
    const ids = useId();
    const [check, setCheck] = useState<ApprovalCheck | null>(null);
    const [loadError, setLoadError] = useState<unknown>(null);
    const [chosenId, setChosenId] = useState<string | null>(null);
    const [reason, setReason] = useState("");
    const [risks, setRisks] = useState(false);
    const [work, setWork] = useState(false);
    const [approver, setApprover] = useState(identity.open_mode ? identity.name : "");
    const [error, setError] = useState<unknown>(null);
    const [busy, setBusy] = useState(false);

    const load = () =>
        api.get("/api/v1/approvals/{checkpoint}", { path: { checkpoint: props.checkpoint } }).then(setCheck, setLoadError);
    useEffect(() => void load(), [props.checkpoint]);
    useEffect(
        () =>
            hub.subscribe(
                (event) => {
                    if (event.type.startsWith("approval.") && (event as { checkpoint?: unknown }).checkpoint === props.checkpoint) void load();
                },
                () => void load(),
            ),
        [hub, props.checkpoint],
    );

    const requests = check?.pending_requests ?? [];
    const request = requests.find((candidate) => candidate.id === chosenId) ?? requests[0] ?? null;
    const destructive = check?.destructive_operation ?? false;
    const needsWorkAck = listsRunningWork(request?.live_impact) || listsRunningWork(check?.live_impact);
    const approver_ = can(identity, "approver");
    const reasonGiven = reason.trim() !== "";
    const approveReady =
        request !== null && (!destructive || (risks && reasonGiven)) && (!needsWorkAck || work) && (!identity.open_mode || approver.trim() !== "");

    async function decide(kind: "approve" | "deny") {
        if (!request) return;
        setBusy(true);
        setError(null);
        try {
            if (kind === "approve") {
                const grant = await api.post("/api/v1/approvals/{checkpoint}", {
                    path: { checkpoint: props.checkpoint },
                    body: {
                        approval_id: request.id,
                        reason: reason.trim() || null,
                        ...(destructive ? { acknowledge_risks: true } : {}),
                        ...(needsWorkAck ? { acknowledge_running_work: true } : {}),
                        ...(identity.open_mode ? { approved_by: approver.trim() } : {}),
                    },
                });
                props.onDecided(
                    grant.deployment_id
                        ? `Granted ${props.checkpoint}: deployment ${grant.deployment_id} goes on by itself.`
                        : `Granted ${props.checkpoint} until ${new Date(grant.expires_at ?? "").toLocaleString()}: ${grant.requested_by ?? "the requester"} starts the run again, with the same options, to use it.`,
                );
            } else {
                await api.post("/api/v1/approvals/{checkpoint}/deny", {
                    path: { checkpoint: props.checkpoint },
                    body: { approval_id: request.id, reason: reason.trim() },
                });
                props.onDecided(`Denied ${props.checkpoint}.`);
            }
        } catch (failure) {
            setError(failure);
            void load();
        } finally {
            setBusy(false);
        }
    }

    return (
        <Dialog title={`Approve ${props.checkpoint}`} onClose={props.onClose} wide>
            <Alert error={loadError} />
            {!check && !loadError && <p class="muted">Loading the request…</p>}
            {check && !request && (
                <>
                    <p>Nothing waits for an approval of {props.checkpoint} now.</p>
                    {check.last_decision && (
                        <p class="small">
                            Last decision: {check.last_decision.state}
                            {check.last_decision.decided_by ? ` by ${check.last_decision.decided_by}` : ""}{" "}
                            <Time value={check.last_decision.decided_at ?? check.last_decision.granted_at} />
                            {check.last_decision.reason ? ` – ${check.last_decision.reason}` : ""}
                        </p>
                    )}
                </>
            )}
            {check && request && (
                <form
                    onSubmit={(event) => {
                        event.preventDefault();
                        if (approveReady && approver_) void decide("approve");
                    }}
                >
                    {requests.length > 1 && (
                        <fieldset>
                            <legend>Requests waiting ({requests.length})</legend>
                            {requests.map((candidate) => (
                                <div class="field-inline" key={candidate.id}>
                                    <input
                                        type="radio"
                                        name={`${ids}-request`}
                                        id={`${ids}-${candidate.id}`}
                                        checked={candidate.id === request.id}
                                        onChange={() => setChosenId(candidate.id)}
                                    />
                                    <label for={`${ids}-${candidate.id}`}>
                                        {candidate.requested_by ?? "someone"}, <Time value={candidate.requested_at} />
                                    </label>
                                </div>
                            ))}
                        </fieldset>
                    )}
                    <dl class="facts-list">
                        <dt>Asked by</dt>
                        <dd data-testid="requested-by">{request.requested_by ?? "–"}</dd>
                        <dt>When</dt>
                        <dd>
                            <Time value={request.requested_at ?? request.created_at} />
                        </dd>
                        <dt>For</dt>
                        <dd>
                            <RequestedFor approval={request} />
                        </dd>
                        <dt>Parameters</dt>
                        <dd>
                            <Params params={request.params} />
                        </dd>
                        <dt>Request</dt>
                        <dd class="mono small">{request.id}</dd>
                    </dl>
                    <h3>Impact</h3>
                    {destructive && <p class="destructive-text">This checkpoint is destructive: what it removes cannot be brought back.</p>}
                    <ul class="impact">
                        {check.impact_summary.map((line) => (
                            <li key={line} class={line.startsWith("DESTRUCTIVE:") ? "destructive" : undefined}>
                                {line}
                            </li>
                        ))}
                    </ul>
                    {request.live_impact && <LiveImpact impact={request.live_impact} title="Live impact when asked" />}
                    {check.live_impact && JSON.stringify(check.live_impact) !== JSON.stringify(request.live_impact) && (
                        <LiveImpact impact={check.live_impact} title="Live impact now" />
                    )}
                    {destructive && !identity.open_mode && request.requested_by !== null && request.requested_by.toLowerCase() === identity.name.toLowerCase() && (
                        <p class="notice">
                            You asked for this run yourself: the four-eyes rule lets another approver grant it.
                        </p>
                    )}
                    {approver_ ? (
                        <>
                            {identity.open_mode && (
                                <div class="field">
                                    <label for={`${ids}-approver`}>Your name</label>
                                    <input id={`${ids}-approver`} type="text" value={approver} onInput={(e) => setApprover(e.currentTarget.value)} />
                                </div>
                            )}
                            <div class="field">
                                <label for={`${ids}-reason`}>Reason</label>
                                <textarea
                                    id={`${ids}-reason`}
                                    rows={2}
                                    value={reason}
                                    aria-describedby={`${ids}-reason-hint`}
                                    onInput={(e) => setReason(e.currentTarget.value)}
                                />
                                <span id={`${ids}-reason-hint`} class="hint">
                                    {destructive ? "Needed to approve and to deny: a change ticket, say." : "Needed to deny; optional to approve."}
                                </span>
                            </div>
                            {destructive && (
                                <div class="field-inline">
                                    <input id={`${ids}-risks`} type="checkbox" checked={risks} onChange={(e) => setRisks(e.currentTarget.checked)} />
                                    <label for={`${ids}-risks`}>I understand the risks</label>
                                </div>
                            )}
                            {needsWorkAck && (
                                <div class="field-inline">
                                    <input id={`${ids}-work`} type="checkbox" checked={work} onChange={(e) => setWork(e.currentTarget.checked)} />
                                    <label for={`${ids}-work`}>End the running Ray work listed above</label>
                                </div>
                            )}
                        </>
                    ) : (
                        <p class="notice">
                            Deciding needs the approver role; you are signed in as {identity.name} ({identity.role}).
                        </p>
                    )}
                    {error !== null && (
                        <div role="alert" class="alert">
                            {refusalText(error)}
                        </div>
                    )}
                    <div class="actions">
                        <button type="button" onClick={props.onClose}>
                            Close
                        </button>
                        {approver_ && (
                            <>
                                <button type="button" class="danger" disabled={busy || !reasonGiven} onClick={() => decide("deny")}>
                                    Deny
                                </button>
                                <button type="submit" class="primary" disabled={busy || !approveReady}>
                                    Approve
                                </button>
                            </>
                        )}
                    </div>
                </form>
            )}
            {(!check || !request) && (
                <div class="actions">
                    <button type="button" onClick={props.onClose}>
                        Close
                    </button>
                </div>
            )}
        </Dialog>
    );
}

export function ApprovalsPage({ checkpoint }: { checkpoint: string | null }) {
    const { identity, report } = useApp();
    const [list, setList] = useState<Schemas["ApprovalList"] | null>(null);
    const [notice, setNotice] = useState<string | null>(null);
    const [revokeError, setRevokeError] = useState<unknown>(null);

    const reload = () => api.get("/api/v1/approvals").then(setList, report);
    useEffect(() => void reload(), []);
    useLiveReload(reload, (event) => event.type.startsWith("approval.") || event.type.startsWith("deployment."));

    async function revoke(grant: Approval) {
        setRevokeError(null);
        try {
            await api.delete("/api/v1/approvals/{checkpoint}", { path: { checkpoint: grant.checkpoint } });
            setNotice(`Revoked the grant of ${grant.checkpoint}.`);
            void reload();
        } catch (failure) {
            setRevokeError(failure);
        }
    }

    return (
        <>
            <h1>Approvals</h1>
            {notice && (
                <p class="notice" role="status">
                    {notice}
                </p>
            )}
            <Alert error={revokeError} />
            <h2>Waiting for a decision</h2>
            {!list ? (
                <p class="muted">Loading…</p>
            ) : list.pending.length === 0 ? (
                <p class="muted">No request is waiting.</p>
            ) : (
                <div class="table-wrap">
                    <table aria-label="Pending approvals">
                        <thead>
                            <tr>
                                <th scope="col">Checkpoint</th>
                                <th scope="col">Asked by</th>
                                <th scope="col">When</th>
                                <th scope="col">For</th>
                                <th scope="col"><span class="sr-only">Actions</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            {list.pending.map((request) => (
                                <tr key={request.id} data-checkpoint={request.checkpoint}>
                                    <td>
                                        <strong>{request.checkpoint}</strong>
                                        <div class="small">
                                            <Params params={request.params} />
                                        </div>
                                    </td>
                                    <td>{request.requested_by ?? "–"}</td>
                                    <td>
                                        <Time value={request.requested_at ?? request.created_at} />
                                    </td>
                                    <td>
                                        <RequestedFor approval={request} />
                                    </td>
                                    <td>
                                        <button
                                            type="button"
                                            class="primary"
                                            aria-label={`Review ${request.checkpoint}`}
                                            onClick={() => navigate(href(["approvals", request.checkpoint]))}
                                        >
                                            Review
                                        </button>
                                    </td>
                                </tr>
                            ))}
                        </tbody>
                    </table>
                </div>
            )}
            <h2>Grants not used yet</h2>
            {list && list.grants.length === 0 && <p class="muted">No grant is waiting to be used.</p>}
            {list && list.grants.length > 0 && (
                <div class="table-wrap">
                    <table aria-label="Grants">
                        <thead>
                            <tr>
                                <th scope="col">Checkpoint</th>
                                <th scope="col">Approved by</th>
                                <th scope="col">Usable by</th>
                                <th scope="col">Expires</th>
                                <th scope="col">Reason</th>
                                {can(identity, "approver") && <th scope="col"><span class="sr-only">Actions</span></th>}
                            </tr>
                        </thead>
                        <tbody>
                            {list.grants.map((grant) => (
                                <tr key={grant.id} data-checkpoint={grant.checkpoint}>
                                    <td>{grant.checkpoint}</td>
                                    <td>{grant.approved_by ?? "–"}</td>
                                    <td>
                                        {grant.scope === "deployment" ? (
                                            <RequestedFor approval={grant} />
                                        ) : grant.scope === "requester" ? (
                                            grant.requested_by
                                        ) : (
                                            "anyone"
                                        )}
                                    </td>
                                    <td>
                                        <Time value={grant.expires_at} />
                                    </td>
                                    <td>{grant.reason}</td>
                                    {can(identity, "approver") && (
                                        <td>
                                            <button type="button" aria-label={`Revoke ${grant.checkpoint}`} onClick={() => revoke(grant)}>
                                                Revoke
                                            </button>
                                        </td>
                                    )}
                                </tr>
                            ))}
                        </tbody>
                    </table>
                </div>
            )}
            {checkpoint && (
                <ApprovalDialog
                    key={checkpoint}
                    checkpoint={checkpoint}
                    onClose={() => navigate("#/approvals")}
                    onDecided={(message) => {
                        setNotice(message);
                        void reload();
                        navigate("#/approvals");
                    }}
                />
            )}
        </>
    );
}
