// One deployment: its steps with their states, what it waits for, and cancel / resume.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Schemas } from "../api/client";
import { useApp } from "../app";
import { Alert } from "../components/alert";
import { LiveImpact } from "../components/live-impact";
import { Duration, Time } from "../components/time";
import { href } from "../router";
import { can } from "../session";
import { liveDeploymentStatuses, StateBadge, stepState } from "../states";
import { useLiveReload } from "../use-live";

type Deployment = Schemas["Deployment"];

function Awaiting({ awaiting }: { awaiting: NonNullable<Deployment["awaiting"]> }) {
    return (
        <section class="notice" aria-labelledby="awaiting-title">
            <h2 id="awaiting-title">Waiting for approval of {awaiting.checkpoint}</h2>
            {awaiting.impact_summary.length > 0 && (
                <ul class="impact">
                    {awaiting.impact_summary.map((line) => (
                        <li key={line} class={line.startsWith("DESTRUCTIVE:") ? "destructive" : undefined}>
                            {line}
                        </li>
                    ))}
                </ul>
            )}
            {awaiting.live_impact && <LiveImpact impact={awaiting.live_impact} title="Live impact" />}
            <p>
                <a href={href(["approvals", awaiting.checkpoint])}>Review {awaiting.checkpoint}</a> (an approver grants or denies
                it; the deployment goes on by itself once it is granted). From a terminal:
            </p>
            <pre class="command">{awaiting.approve_command}</pre>
        </section>
    );
}

export function DeploymentPage({ deploymentId }: { deploymentId: string }) {
    const { identity, report } = useApp();
    const [deployment, setDeployment] = useState<Deployment | null>(null);
    const [actionError, setActionError] = useState<unknown>(null);
    const [busy, setBusy] = useState(false);

    const reload = () => api.get("/api/v1/deployments/{id}", { path: { id: deploymentId } }).then(setDeployment, report);
    useEffect(() => void reload(), [deploymentId]);
    useLiveReload(
        reload,
        (event) =>
            (event.type.startsWith("deployment.") && event.deployment_id === deploymentId) ||
            event.type.startsWith("execution.") ||
            event.type.startsWith("approval."),
    );

    if (!deployment) return <p class="muted">Loading deployment {deploymentId}…</p>;
    const live = liveDeploymentStatuses.has(deployment.status);
    const resumable = deployment.status === "failed" || deployment.status === "cancelled";
    const operator = can(identity, "operator");

    async function act(action: "cancel" | "resume") {
        setBusy(true);
        setActionError(null);
        try {
            const path = action === "cancel" ? "/api/v1/deployments/{id}/cancel" : "/api/v1/deployments/{id}/resume";
            setDeployment(await api.post(path, { path: { id: deploymentId } }));
        } catch (failure) {
            setActionError(failure);
        } finally {
            setBusy(false);
        }
    }

    return (
        <>
            <div class="page-head">
                <h1>
                    Deployment <span class="mono small">{deployment.deployment_id}</span>
                </h1>
                {operator && (
                    <div class="buttons">
                        {live && (
                            <button type="button" class="danger" disabled={busy} onClick={() => act("cancel")}>
                                Cancel deployment
                            </button>
                        )}
                        {resumable && (
                            <button type="button" class="primary" disabled={busy} onClick={() => act("resume")}>
                                Resume
                            </button>
                        )}
                    </div>
                )}
            </div>
            <Alert error={actionError} />
            <dl class="facts-list">
                <dt>Status</dt>
                <dd>
                    <strong data-testid="deployment-status">{deployment.status}</strong>
                    {deployment.status_reason && <span class="muted"> – {deployment.status_reason}</span>}
                </dd>
                <dt>Requested by</dt>
                <dd>
                    {deployment.requested_by}
                    {deployment.resumed_by && <span class="muted"> (resumed by {deployment.resumed_by})</span>}
                    {deployment.auto_approve && <span class="flag">auto-approve</span>}
                    {deployment.check && <span class="flag flag-quiet">check mode</span>}
                </dd>
                <dt>Created</dt>
                <dd>
                    <Time value={deployment.created_at} />
                </dd>
                <dt>Ran</dt>
                <dd>
                    <Time value={deployment.started_at} /> for <Duration from={deployment.started_at} to={deployment.finished_at} />
                </dd>
                {Object.keys(deployment.extra_vars).length > 0 && (
                    <>
                        <dt>Extra variables</dt>
                        <dd>
                            <pre class="json">{JSON.stringify(deployment.extra_vars, null, 2)}</pre>
                        </dd>
                    </>
                )}
            </dl>
            {deployment.awaiting && <Awaiting awaiting={deployment.awaiting} />}
            <h2>Checkpoints</h2>
            <div class="table-wrap">
                <table aria-label="Steps">
                    <thead>
                        <tr>
                            <th scope="col">Checkpoint</th>
                            <th scope="col">State</th>
                            <th scope="col">Execution</th>
                        </tr>
                    </thead>
                    <tbody>
                        {deployment.steps.map((step) => (
                            <tr key={step.checkpoint} data-checkpoint={step.checkpoint}>
                                <td>
                                    <strong>{step.checkpoint}</strong>
                                    {deployment.current_checkpoint === step.checkpoint && <span class="flag flag-quiet">current</span>}
                                </td>
                                <td>
                                    <StateBadge status={step.status} state={stepState(step.status)} />
                                    {step.status === "awaiting_approval" && (
                                        <div class="small">
                                            <a href={href(["approvals", step.checkpoint])}>Review {step.checkpoint}</a>
                                        </div>
                                    )}
                                </td>
                                <td>
                                    {step.execution_id ? (
                                        <a href={href(["runs", step.execution_id])} class="mono small">
                                            {step.execution_id}
                                        </a>
                                    ) : (
                                        <span class="muted">–</span>
                                    )}
                                </td>
                            </tr>
                        ))}
                    </tbody>
                </table>
            </div>
        </>
    );
}
