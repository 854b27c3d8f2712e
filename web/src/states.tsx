// The state words the pipeline and deployment pages show, from the API's statuses.
import type { Schemas } from "./api/client";

export type StateText =
    | "never run"
    | "running"
    | "succeeded"
    | "failed"
    | "cancelled"
    | "interrupted"
    | "waiting for approval";

type ExecutionStatus = Schemas["ExecutionStatus"];
type StepStatus = Schemas["DeploymentStep"]["status"];

export function executionState(status: ExecutionStatus | null | undefined): StateText {
    switch (status) {
        case undefined:
        case null:
            return "never run";
        case "queued":
        case "running":
            return "running";
        case "awaiting_approval":
            return "waiting for approval";
        case "succeeded":
            return "succeeded";
        case "failed":
        case "timed_out":
            return "failed";
        case "cancelled":
            return "cancelled";
        case "interrupted":
            return "interrupted";
    }
}

export function stepState(status: StepStatus): StateText {
    switch (status) {
        case "pending":
            return "never run";
        case "awaiting_approval":
            return "waiting for approval";
        case "denied":
            return "failed";
        default:
            return executionState(status);
    }
}

/** Words beside the state when the state alone hides something (a timeout, a denial, a queue). */
export function stateDetail(status: string | null | undefined): string | null {
    switch (status) {
        case "timed_out":
            return "timed out";
        case "denied":
            return "approval denied";
        case "queued":
            return "queued";
        case "pending":
            return "not reached";
        default:
            return null;
    }
}

export function StateBadge({ status, state }: { status: string | null | undefined; state: StateText }) {
    const detail = stateDetail(status);
    return (
        <span class="state-cell">
            <span data-testid="state" class={`state state-${state.replace(/ /g, "-")}`}>
                {state}
            </span>
            {detail && <span class="muted small"> ({detail})</span>}
        </span>
    );
}

export const liveExecutionStatuses: ReadonlySet<string> = new Set(["queued", "running", "awaiting_approval"]);
export const liveDeploymentStatuses: ReadonlySet<string> = new Set(["queued", "running", "awaiting_approval"]);
