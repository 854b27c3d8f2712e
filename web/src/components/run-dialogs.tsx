// The two ways to start work: a deployment (several checkpoints in catalog order) and one run of
// one checkpoint.
import { useId, useMemo, useState } from "preact/hooks";
import { api, ApiError } from "../api/client";
import type { Schemas } from "../api/client";
import { href, navigate } from "../router";
import { can } from "../session";
import type { Identity } from "../session";
import { describeError } from "./alert";
import { Dialog } from "./dialog";
import { emptyVarsInput, extraVarsOf, VarsForm } from "./vars-form";
import type { Declarations } from "./vars-form";

type Checkpoint = Schemas["Checkpoint"];

/** A refusal worth more than its message: a link to what is in the way. */
function Refusal({ error }: { error: unknown }) {
    if (error === null) return null;
    if (typeof error === "string")
        return (
            <div role="alert" class="alert">
                {error}
            </div>
        );
    const body = error instanceof ApiError ? error.body : {};
    const code = error instanceof ApiError ? error.code : "";
    let next = null;
    if (code === "APPROVAL_REQUIRED" && typeof body.checkpoint === "string") {
        next = (
            <>
                {" "}
                An approver reviews it under <a href={href(["approvals", body.checkpoint])}>Approvals</a>; once it is
                granted, start this run again with the same options.
            </>
        );
    } else if (code === "ALREADY_RUNNING" && typeof body.execution_id === "string") {
        next = (
            <>
                {" "}
                <a href={href(["runs", body.execution_id])}>Follow the running execution</a>.
            </>
        );
    } else if (code === "DEPLOYMENT_ACTIVE" && typeof body.deployment_id === "string") {
        next = (
            <>
                {" "}
                <a href={href(["deployments", body.deployment_id])}>Open the deployment under way</a>.
            </>
        );
    }
    return (
        <div role="alert" class="alert">
            {describeError(error)}
            {next}
        </div>
    );
}

function CheckpointFacts({ checkpoint }: { checkpoint: Checkpoint }) {
    return (
        <div class="facts">
            <p>{checkpoint.description}</p>
            {checkpoint.impact_summary.length > 0 && (
                <ul class="impact">
                    {checkpoint.impact_summary.map((line) => (
                        <li key={line} class={line.startsWith("DESTRUCTIVE:") ? "destructive" : undefined}>
                            {line}
                        </li>
                    ))}
                </ul>
            )}
        </div>
    );
}

export function RunDialog(props: { checkpoint: Checkpoint; identity: Identity; onClose: () => void }) {
    const { checkpoint } = props;
    const ids = useId();
    const [check, setCheck] = useState(false);
    const [limit, setLimit] = useState("");
    const [approve, setApprove] = useState(false);
    const [vars, setVars] = useState(emptyVarsInput);
    const [error, setError] = useState<unknown>(null);
    const [busy, setBusy] = useState(false);
    const isAnsible = checkpoint.kind === "ansible";
    const mayApproveInline = checkpoint.approval_required && !checkpoint.destructive && can(props.identity, "approver");

    async function start(event: Event) {
        event.preventDefault();
        const extra = extraVarsOf(checkpoint.vars, vars);
        if ("error" in extra) return setError(extra.error);
        setBusy(true);
        setError(null);
        try {
            const accepted = await api.post("/api/v1/checkpoints/{name}", {
                path: { name: checkpoint.name },
                body: {
                    extra_vars: extra.vars,
                    ...(isAnsible ? { check, limit: limit.trim() || null } : {}),
                    ...(mayApproveInline && approve ? { approve: true } : {}),
                },
            });
            props.onClose();
            navigate(href(["runs", accepted.execution_id]));
        } catch (failure) {
            setError(failure);
        } finally {
            setBusy(false);
        }
    }

    return (
        <Dialog title={`Run ${checkpoint.name}`} onClose={props.onClose} wide>
            <form onSubmit={start}>
                <CheckpointFacts checkpoint={checkpoint} />
                <div class="field-inline">
                    <input id={`${ids}-check`} type="checkbox" checked={check} disabled={!isAnsible} onChange={(e) => setCheck(e.currentTarget.checked)} />
                    <label for={`${ids}-check`}>Check mode</label>
                    <span class="hint">
                        {isAnsible ? "A dry run: ansible-playbook --check changes nothing." : "Only Ansible checkpoints have a check mode."}
                    </span>
                </div>
                {isAnsible && (
                    <div class="field">
                        <label for={`${ids}-limit`}>Limit (host pattern)</label>
                        <input
                            id={`${ids}-limit`}
                            type="text"
                            value={limit}
                            placeholder="every host"
                            autocomplete="off"
                            spellcheck={false}
                            onInput={(e) => setLimit(e.currentTarget.value)}
                        />
                    </div>
                )}
                <VarsForm declarations={checkpoint.vars} input={vars} onChange={setVars} />
                {mayApproveInline && (
                    <div class="field-inline">
                        <input id={`${ids}-approve`} type="checkbox" checked={approve} onChange={(e) => setApprove(e.currentTarget.checked)} />
                        <label for={`${ids}-approve`}>Approve this run myself</label>
                    </div>
                )}
                <Refusal error={error} />
                <div class="actions">
                    <button type="button" onClick={props.onClose}>
                        Close
                    </button>
                    <button type="submit" class="primary" disabled={busy}>
                        Start
                    </button>
                </div>
            </form>
        </Dialog>
    );
}

export function StartDeploymentDialog(props: { checkpoints: Checkpoint[]; identity: Identity; onClose: () => void }) {
    const ids = useId();
    const deployable = props.checkpoints.filter((checkpoint) => checkpoint.in_deployment);
    const [selected, setSelected] = useState<Set<string>>(() => new Set(deployable.map((c) => c.name)));
    const [startFrom, setStartFrom] = useState("");
    const [autoApprove, setAutoApprove] = useState(false);
    const [check, setCheck] = useState(false);
    const [vars, setVars] = useState(emptyVarsInput);
    const [error, setError] = useState<unknown>(null);
    const [busy, setBusy] = useState(false);

    const chosen = deployable.filter((checkpoint) => selected.has(checkpoint.name));
    const fromIndex = Math.max(0, chosen.findIndex((checkpoint) => checkpoint.name === startFrom));
    const running = chosen.slice(fromIndex);
    const declarations = useMemo(() => {
        const all: Declarations = {};
        for (const checkpoint of running)
            for (const [name, declaration] of Object.entries(checkpoint.vars)) all[name] ??= declaration;
        return all;
    }, [running.map((c) => c.name).join(",")]);
    // The service refuses check mode when a step runs no playbook; say which before it does.
    const noPlaybook = running.filter((checkpoint) => checkpoint.kind !== "ansible").map((checkpoint) => checkpoint.name);
    const checkApplies = noPlaybook.length === 0;

    function toggle(name: string, on: boolean) {
        const next = new Set(selected);
        if (on) next.add(name);
        else next.delete(name);
        setSelected(next);
        if (!on && startFrom === name) setStartFrom("");
    }

    async function start(event: Event) {
        event.preventDefault();
        if (chosen.length === 0) return setError("Choose at least one checkpoint.");
        const extra = extraVarsOf(declarations, vars);
        if ("error" in extra) return setError(extra.error);
        setBusy(true);
        setError(null);
        try {
            const deployment = await api.post("/api/v1/deployments", {
                body: {
                    checkpoints: chosen.length === deployable.length ? null : chosen.map((c) => c.name),
                    start_from: startFrom || null,
                    extra_vars: extra.vars,
                    ...(check && checkApplies ? { check: true } : {}),
                    ...(autoApprove ? { auto_approve: true } : {}),
                },
            });
            props.onClose();
            navigate(href(["deployments", deployment.deployment_id]));
        } catch (failure) {
            setError(failure);
        } finally {
            setBusy(false);
        }
    }

    return (
        <Dialog title="Start deployment" onClose={props.onClose} wide>
            <form onSubmit={start}>
                <fieldset>
                    <legend>Checkpoints, run in catalog order</legend>
                    {deployable.map((checkpoint) => (
                        <div class="field-inline" key={checkpoint.name}>
                            <input
                                id={`${ids}-cp-${checkpoint.name}`}
                                type="checkbox"
                                checked={selected.has(checkpoint.name)}
                                onChange={(e) => toggle(checkpoint.name, e.currentTarget.checked)}
                            />
                            <label for={`${ids}-cp-${checkpoint.name}`}>{checkpoint.name}</label>
                            {checkpoint.approval_required && <span class="flag">approval</span>}
                            {checkpoint.destructive && <span class="flag flag-destructive">destructive</span>}
                        </div>
                    ))}
                    {deployable.length < props.checkpoints.length && (
                        <p class="hint">
                            Not in deployments (run them on their own):{" "}
                            {props.checkpoints
                                .filter((c) => !c.in_deployment)
                                .map((c) => c.name)
                                .join(", ")}
                        </p>
                    )}
                </fieldset>
                <div class="field">
                    <label for={`${ids}-from`}>Start from</label>
                    <select id={`${ids}-from`} value={startFrom} onChange={(e) => setStartFrom(e.currentTarget.value)}>
                        <option value="">the first checkpoint chosen</option>
                        {chosen.map((checkpoint) => (
                            <option key={checkpoint.name} value={checkpoint.name}>
                                {checkpoint.name}
                            </option>
                        ))}
                    </select>
                </div>
                <div class="field-inline">
                    <input
                        id={`${ids}-check`}
                        type="checkbox"
                        checked={check && checkApplies}
                        disabled={!checkApplies}
                        aria-describedby={`${ids}-check-hint`}
                        onChange={(e) => setCheck(e.currentTarget.checked)}
                    />
                    <label for={`${ids}-check`}>Check mode</label>
                    <span id={`${ids}-check-hint`} class="hint">
                        {checkApplies
                            ? "A dry run of every step: ansible-playbook --check changes nothing."
                            : `Only Ansible checkpoints have a check mode; ${noPlaybook.join(", ")} ${noPlaybook.length === 1 ? "runs" : "run"} no playbook.`}
                    </span>
                </div>
                {can(props.identity, "admin") && (
                    <div class="field-inline">
                        <input id={`${ids}-auto`} type="checkbox" checked={autoApprove} onChange={(e) => setAutoApprove(e.currentTarget.checked)} />
                        <label for={`${ids}-auto`}>Approve gates automatically</label>
                        <span class="hint">Admin only; a destructive gate with running Ray work still waits for a person.</span>
                    </div>
                )}
                <VarsForm declarations={declarations} input={vars} onChange={setVars} />
                <Refusal error={error} />
                <div class="actions">
                    <button type="button" onClick={props.onClose}>
                        Close
                    </button>
                    <button type="submit" class="primary" disabled={busy}>
                        Start
                    </button>
                </div>
            </form>
        </Dialog>
    );
}
