// The pipeline: the catalog's checkpoints in order, each with the state of its latest execution
// (or "waiting for approval" while a request for it is pending), and the buttons to run them.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Schemas } from "../api/client";
import { useApp } from "../app";
import { RunDialog, StartDeploymentDialog } from "../components/run-dialogs";
import { Time } from "../components/time";
import { href } from "../router";
import { can } from "../session";
import { executionState, liveDeploymentStatuses, StateBadge } from "../states";
import { useLiveReload } from "../use-live";

type Checkpoint = Schemas["Checkpoint"];
type Execution = Schemas["Execution"];

interface PipelineData {
    checkpoints: Checkpoint[];
    latest: Map<string, Execution>;
    waiting: Set<string>;
    deployment: Schemas["Deployment"] | null;
}

async function loadPipeline(): Promise<PipelineData> {
    const [catalog, approvals, deployments] = await Promise.all([
        api.get("/api/v1/checkpoints"),
        api.get("/api/v1/approvals"),
        api.get("/api/v1/deployments", { query: { limit: 1 } }),
    ]);
    const newest = await Promise.all(
        catalog.checkpoints.map((checkpoint) =>
            api.get("/api/v1/executions", { query: { checkpoint: checkpoint.name, limit: 1 } }),
        ),
    );
    const latest = new Map<string, Execution>();
    newest.forEach((page) => {
        const execution = page.executions[0];
        if (execution) latest.set(execution.checkpoint, execution);
    });
    const deployment = deployments.deployments[0] ?? null;
    const waiting = new Set(approvals.pending.map((request) => request.checkpoint));
    if (deployment?.awaiting) waiting.add(deployment.awaiting.checkpoint);
    return { checkpoints: catalog.checkpoints, latest, waiting, deployment };
}

function DeploymentBanner({ deployment }: { deployment: Schemas["Deployment"] }) {
    if (!liveDeploymentStatuses.has(deployment.status)) return null;
    return (
        <p class="banner">
            <a href={href(["deployments", deployment.deployment_id])}>Deployment {deployment.deployment_id}</a> is{" "}
            {deployment.status.replace(/_/g, " ")}
            {deployment.current_checkpoint ? ` at ${deployment.current_checkpoint}` : ""}.
            {deployment.awaiting && (
                <>
                    {" "}
                    <a href={href(["approvals", deployment.awaiting.checkpoint])}>Review {deployment.awaiting.checkpoint}</a>
                </>
            )}
        </p>
    );
}

export function PipelinePage() {
    const { identity, report } = useApp();
    const [data, setData] = useState<PipelineData | null>(null);
    const [dialog, setDialog] = useState<{ kind: "deploy" } | { kind: "run"; checkpoint: Checkpoint } | null>(null);
    const operator = can(identity, "operator");

    const reload = () => loadPipeline().then(setData, report);
    useEffect(() => void reload(), []);
    useLiveReload(reload, (event) => /^(execution|approval|deployment)\./.test(event.type));

    return (
        <>
            <div class="page-head">
                <h1>Pipeline</h1>
                {operator && (
                    <button type="button" class="primary" onClick={() => setDialog({ kind: "deploy" })} disabled={!data}>
                        Start deployment
                    </button>
                )}
            </div>
            {data?.deployment && <DeploymentBanner deployment={data.deployment} />}
            {!data ? (
                <p class="muted">Loading the catalog…</p>
            ) : (
                <div class="table-wrap">
                    <table aria-label="Checkpoints" class="checkpoints">
                        <thead>
                            <tr>
                                <th scope="col">#</th>
                                <th scope="col">Checkpoint</th>
                                <th scope="col">State</th>
                                {operator && <th scope="col"><span class="sr-only">Actions</span></th>}
                            </tr>
                        </thead>
                        <tbody>
                            {data.checkpoints.map((checkpoint) => {
                                const last = data.latest.get(checkpoint.name);
                                const waiting = data.waiting.has(checkpoint.name);
                                return (
                                    <tr key={checkpoint.name} data-checkpoint={checkpoint.name}>
                                        <td class="num">{checkpoint.order}</td>
                                        <td>
                                            <div class="cp-name">
                                                <strong>{checkpoint.name}</strong>
                                                {checkpoint.approval_required && <span class="flag">approval</span>}
                                                {checkpoint.destructive && <span class="flag flag-destructive">destructive</span>}
                                                {!checkpoint.in_deployment && <span class="flag flag-quiet">on its own</span>}
                                            </div>
                                            <div class="small">{checkpoint.description}</div>
                                            {checkpoint.impact_summary.length > 0 && (
                                                <ul class="impact small">
                                                    {checkpoint.impact_summary.map((line) => (
                                                        <li key={line} class={line.startsWith("DESTRUCTIVE:") ? "destructive" : undefined}>
                                                            {line}
                                                        </li>
                                                    ))}
                                                </ul>
                                            )}
                                        </td>
                                        <td>
                                            <StateBadge
                                                status={waiting ? "awaiting_approval" : last?.status}
                                                state={waiting ? "waiting for approval" : executionState(last?.status)}
                                            />
                                            {waiting && (
                                                <div class="small">
                                                    <a href={href(["approvals", checkpoint.name])}>Review the request</a>
                                                </div>
                                            )}
                                            {last && (
                                                <div class="small">
                                                    <a href={href(["runs", last.execution_id])} aria-label={`Last run of ${checkpoint.name}`}>
                                                        Last run
                                                    </a>{" "}
                                                    <Time value={last.finished_at ?? last.started_at ?? last.created_at} />
                                                </div>
                                            )}
                                        </td>
                                        {operator && (
                                            <td>
                                                <button
                                                    type="button"
                                                    aria-label={`Run ${checkpoint.name}`}
                                                    onClick={() => setDialog({ kind: "run", checkpoint })}
                                                >
                                                    Run
                                                </button>
                                            </td>
                                        )}
                                    </tr>
                                );
                            })}
                        </tbody>
                    </table>
                </div>
            )}
            {dialog?.kind === "deploy" && data && (
                <StartDeploymentDialog checkpoints={data.checkpoints} identity={identity} onClose={() => setDialog(null)} />
            )}
            {dialog?.kind === "run" && (
                <RunDialog checkpoint={dialog.checkpoint} identity={identity} onClose={() => setDialog(null)} />
            )}
        </>
    );
}
