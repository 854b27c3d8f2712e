// The Ray cluster as the service's monitor last saw it: nodes, capacity, Serve applications, jobs
// and the health of the sources, refreshed on cluster events. A service that has never read the
// cluster (no Ray yet, or monitoring off) has no data, which is a state, not an error.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Schemas } from "../api/client";
import { useApp } from "../app";
import { Time } from "../components/time";
import { useLiveReload } from "../use-live";

const pollMs = 15_000;

interface ClusterData {
    status: Schemas["ClusterStatus"];
    info: Schemas["ClusterInfo"] | null;
    nodes: Schemas["NodeList"] | null;
    capacity: Schemas["Capacity"] | null;
    applications: Schemas["ApplicationList"] | null;
    jobs: Schemas["JobList"] | null;
}

function settled<T>(result: PromiseSettledResult<T>): T | null {
    return result.status === "fulfilled" ? result.value : null;
}

async function loadCluster(): Promise<ClusterData> {
    const status = await api.get("/api/v1/cluster/status");
    const [info, nodes, capacity, applications, jobs] = await Promise.allSettled([
        api.get("/api/v1/cluster/info"),
        api.get("/api/v1/resources/nodes"),
        api.get("/api/v1/resources/capacity"),
        api.get("/api/v1/applications"),
        api.get("/api/v1/jobs"),
    ]);
    return {
        status,
        info: settled(info),
        nodes: settled(nodes),
        capacity: settled(capacity),
        applications: settled(applications),
        jobs: settled(jobs),
    };
}

function amount(value: number, unit = ""): string {
    const rounded = Math.round(value * 10) / 10;
    return `${rounded}${unit}`;
}

function Capacity({ capacity }: { capacity: Schemas["Capacity"] }) {
    const row = (label: string, total: number, available: number, unit = "") => (
        <div class="card">
            <div class="muted small">{label}</div>
            <div class="big">
                {amount(total - available, unit)} / {amount(total, unit)}
            </div>
            <div class="small">in use</div>
        </div>
    );
    return (
        <div class="cards">
            {row("CPUs", capacity.total_cpus, capacity.available_cpus)}
            {row("Memory", capacity.total_memory, capacity.available_memory, " GiB")}
            {row("GPUs", capacity.total_gpus, capacity.available_gpus)}
            <div class="card">
                <div class="muted small">Utilization</div>
                <div class="big">{amount(capacity.utilization_percent)} %</div>
            </div>
        </div>
    );
}

function Links({ data }: { data: ClusterData }) {
    const dashboard = data.info?.dashboard_url ?? data.status.source.dashboard_url;
    const endpoint = (name: string) =>
        data.status.cluster_health.monitoring.endpoints.find((candidate) => candidate.name === name)?.url;
    const origin = (url: string | undefined) => {
        if (!url) return undefined;
        try {
            return new URL(url).origin;
        } catch {
            return undefined;
        }
    };
    const links: [string, string | undefined][] = [
        ["Ray dashboard", dashboard],
        ["Grafana", origin(endpoint("grafana"))],
        ["Prometheus", origin(endpoint("prometheus"))],
    ];
    const known = links.filter((link): link is [string, string] => !!link[1]);
    if (known.length === 0) return null;
    return (
        <p class="links">
            {known.map(([label, url]) => (
                <a key={label} href={url} target="_blank" rel="noopener noreferrer">
                    {label}
                </a>
            ))}
        </p>
    );
}

function SourceHealth({ source, health }: { source: Schemas["RaySource"]; health: Schemas["ClusterStatus"]["cluster_health"] }) {
    return (
        <section>
            <h2>Sources</h2>
            <dl class="facts-list">
                <dt>Ray dashboard</dt>
                <dd>
                    {source.state.toLowerCase()}
                    {source.last_success_at && (
                        <span class="muted">
                            {" "}
                            (last read <Time value={source.last_success_at} />)
                        </span>
                    )}
                    {source.last_error && source.state !== "CONNECTED" && <div class="small">{source.last_error}</div>}
                </dd>
                {health.monitoring.endpoints.flatMap((endpoint) => [
                    <dt key={`${endpoint.name}-k`}>{endpoint.name ?? "endpoint"}</dt>,
                    <dd key={`${endpoint.name}-v`}>
                        {endpoint.up === true ? "up" : endpoint.up === false ? "down" : "unknown"}
                        {endpoint.error && <div class="small">{endpoint.error}</div>}
                    </dd>,
                ])}
            </dl>
        </section>
    );
}

function Nodes({ nodes }: { nodes: Schemas["NodeList"] }) {
    return (
        <div class="table-wrap">
            <table aria-label="Nodes">
                <thead>
                    <tr>
                        <th scope="col">Node</th>
                        <th scope="col">Type</th>
                        <th scope="col">Address</th>
                        <th scope="col">State</th>
                        <th scope="col" class="num">CPU</th>
                        <th scope="col" class="num">GPU</th>
                    </tr>
                </thead>
                <tbody>
                    {nodes.nodes.map((node) => (
                        <tr key={node.node_id}>
                            <td>{node.node_name}</td>
                            <td>{node.node_type}</td>
                            <td class="mono small">{node.node_ip}</td>
                            <td class={node.alive ? "host-ok" : "host-bad"}>{node.state}</td>
                            <td class="num">
                                {amount(node.resources_used?.CPU ?? 0)} / {amount(node.resources.CPU ?? 0)}
                            </td>
                            <td class="num">
                                {amount(node.resources_used?.GPU ?? 0)} / {amount(node.resources.GPU ?? 0)}
                            </td>
                        </tr>
                    ))}
                </tbody>
            </table>
        </div>
    );
}

export function ClusterPage() {
    const { report } = useApp();
    const [data, setData] = useState<ClusterData | null>(null);

    const reload = () => loadCluster().then(setData, report);
    useEffect(() => {
        void reload();
        const timer = window.setInterval(() => void reload(), pollMs);
        return () => window.clearInterval(timer);
    }, []);
    useLiveReload(reload, (event) => event.type.startsWith("cluster.") || event.type.startsWith("cml.node_"), 1000);

    if (!data) return <><h1>Cluster</h1><p class="muted">Loading…</p></>;
    const { status } = data;
    const source = status.source;
    const available = status.observed_at !== null && source.state !== "DISABLED";

    return (
        <>
            <h1>Cluster</h1>
            <dl class="facts-list">
                <dt>Deployment</dt>
                <dd>
                    {status.deployment_status.replace(/_/g, " ").toLowerCase()}: {status.completed_checkpoints.length} of{" "}
                    {status.total_checkpoints} checkpoints succeeded
                </dd>
                {available && (
                    <>
                        <dt>Health</dt>
                        <dd>
                            {status.cluster_health.overall_status.toLowerCase()}, {status.alive_nodes} of {status.total_nodes} nodes
                            alive, {status.total_applications} Serve applications
                        </dd>
                        <dt>Observed</dt>
                        <dd>
                            <Time value={status.observed_at} />
                            {source.state !== "CONNECTED" && <span class="muted"> (the dashboard is {source.state.toLowerCase()} now)</span>}
                        </dd>
                    </>
                )}
            </dl>
            <Links data={data} />
            {!available ? (
                <section class="banner">
                    <p>
                        <strong>Cluster data is not available</strong>
                    </p>
                    <p class="small">
                        {source.state === "DISABLED"
                            ? "The service does not watch a Ray cluster (ray.enabled is false)."
                            : `The service has not read the Ray dashboard yet (${source.state.toLowerCase()}${
                                  source.dashboard_url ? ` at ${source.dashboard_url}` : ""
                              }). It shows here once the cluster answers.`}
                    </p>
                </section>
            ) : (
                <>
                    {data.capacity && <Capacity capacity={data.capacity} />}
                    <h2>Nodes</h2>
                    {data.nodes && data.nodes.nodes.length > 0 ? <Nodes nodes={data.nodes} /> : <p class="muted">No nodes.</p>}
                    <h2>Serve applications</h2>
                    {data.applications && data.applications.applications.length > 0 ? (
                        <div class="table-wrap">
                            <table aria-label="Serve applications">
                                <thead>
                                    <tr>
                                        <th scope="col">Application</th>
                                        <th scope="col">Status</th>
                                        <th scope="col">Route</th>
                                        <th scope="col" class="num">Replicas</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {data.applications.applications.map((app) => (
                                        <tr key={app.name}>
                                            <td>{app.name}</td>
                                            <td>{app.status}</td>
                                            <td class="mono small">{app.route_prefix ?? "–"}</td>
                                            <td class="num">
                                                {app.running_replicas} / {app.num_replicas}
                                            </td>
                                        </tr>
                                    ))}
                                </tbody>
                            </table>
                        </div>
                    ) : (
                        <p class="muted">No Serve applications.</p>
                    )}
                    <h2>Jobs</h2>
                    {data.jobs && data.jobs.jobs.length > 0 ? (
                        <div class="table-wrap">
                            <table aria-label="Jobs">
                                <thead>
                                    <tr>
                                        <th scope="col">Job</th>
                                        <th scope="col">Status</th>
                                        <th scope="col">Entrypoint</th>
                                        <th scope="col">Started</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {data.jobs.jobs.map((job) => (
                                        <tr key={job.submission_id ?? job.job_id ?? job.entrypoint}>
                                            <td class="mono small">{job.submission_id ?? job.job_id}</td>
                                            <td>{job.status}</td>
                                            <td class="mono small">{job.entrypoint}</td>
                                            <td>
                                                <Time value={job.start_time} />
                                            </td>
                                        </tr>
                                    ))}
                                </tbody>
                            </table>
                        </div>
                    ) : (
                        <p class="muted">No jobs.</p>
                    )}
                    <SourceHealth source={source} health={status.cluster_health} />
                </>
            )}
        </>
    );
}
