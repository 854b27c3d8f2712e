// The REST client. Paths, parameters, bodies and answers are typed from schema.d.ts, which the
// build generates from openapi/openapi.yaml: a route or schema that changes there and not here
// fails the build's type check.
import type { components, paths } from "./schema";
import { getToken } from "../session";

export type Schemas = components["schemas"];

type Method = "get" | "post" | "delete";
type PathsWith<M extends Method> = {
    [P in keyof paths]: paths[P] extends Record<M, infer O> ? ([O] extends [never | undefined] ? never : P) : never;
}[keyof paths];
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;

type ParameterPart<O, K extends "path" | "query"> = O extends { parameters: infer Ps }
    ? Ps extends Record<K, infer V>
        ? [V] extends [never | undefined]
            ? never
            : V
        : Ps extends Partial<Record<K, infer V>>
          ? [V] extends [never | undefined]
              ? never
              : V
          : never
    : never;

type JsonBody<O> = O extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;

type SuccessStatus = 200 | 201 | 202;
type JsonAnswer<O> = O extends { responses: infer R }
    ? {
          [S in keyof R & SuccessStatus]: R[S] extends { content: { "application/json": infer J } } ? J : never;
      }[keyof R & SuccessStatus]
    : never;

type Options<O> = ([ParameterPart<O, "path">] extends [never] ? { path?: never } : { path: ParameterPart<O, "path"> }) &
    ([ParameterPart<O, "query">] extends [never] ? { query?: never } : { query?: ParameterPart<O, "query"> }) &
    ([JsonBody<O>] extends [never] ? { body?: never } : { body?: JsonBody<O> });

/** `text` ending as a sentence, so more can follow it. */
export function sentence(text: string): string {
    const trimmed = text.trim();
    return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** An answer that is not a success, or no answer at all (status 0). */
export class ApiError extends Error {
    readonly status: number;
    readonly code: string;
    readonly body: Record<string, unknown>;

    constructor(status: number, code: string, message: string, body: Record<string, unknown> = {}) {
        super(message);
        this.status = status;
        this.code = code;
        this.body = body;
    }

    /** What a person reads: the service's message, plus what to do when the status says more. */
    describe(): string {
        if (this.status === 0) return `${sentence(this.message)} Check that the raydeploy service is running, then retry.`;
        if (this.status === 401) return `${sentence(this.message)} Sign in again with a valid API token.`;
        if (this.status === 403 && this.code === "FORBIDDEN") {
            const role = typeof this.body.required_role === "string" ? this.body.required_role : "a higher";
            return `${sentence(this.message)} This needs the ${role} role; ask an admin for a token with it.`;
        }
        return sentence(this.message);
    }
}

/** Called with every 401, so the app can send the person back to the sign-in page. */
let onUnauthenticated: (error: ApiError) => void = () => {};
export function setUnauthenticatedHandler(handler: (error: ApiError) => void): void {
    onUnauthenticated = handler;
}

function buildUrl(template: string, path?: object, query?: object): string {
    const pathValues = (path ?? {}) as Record<string, unknown>;
    let url = template.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(String(pathValues[name])));
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
        if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
    }
    const text = search.toString();
    if (text) url += `?${text}`;
    return url;
}

async function send(method: string, url: string, accept: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { Accept: accept };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    // The service wants every POST to say JSON, even without a body.
    if (method !== "GET") headers["Content-Type"] = "application/json";
    let response: Response;
    try {
        response = await fetch(url, {
            method,
            headers,
            body: body === undefined ? (method === "POST" ? "{}" : undefined) : JSON.stringify(body),
            credentials: "omit",
            cache: "no-store",
        });
    } catch {
        throw new ApiError(0, "NETWORK", "The raydeploy service did not answer");
    }
    if (response.ok) return response;
    let errorBody: Record<string, unknown> = {};
    try {
        errorBody = (await response.json()) as Record<string, unknown>;
    } catch {
        // Not JSON (a proxy's page, say): the status line has to do.
    }
    const code = typeof errorBody.error === "string" ? errorBody.error : `HTTP_${response.status}`;
    const message =
        typeof errorBody.message === "string"
            ? errorBody.message
            : `The service answered ${response.status} ${response.statusText}`.trim();
    const error = new ApiError(response.status, code, message, errorBody);
    if (response.status === 401) onUnauthenticated(error);
    throw error;
}

async function json<P extends keyof paths, M extends Method>(
    method: M,
    path: P,
    options: Options<Operation<P, M>>,
): Promise<JsonAnswer<Operation<P, M>>> {
    const url = buildUrl(path, options.path, options.query);
    const response = await send(method.toUpperCase(), url, "application/json", options.body);
    const text = await response.text();
    return (text ? JSON.parse(text) : {}) as JsonAnswer<Operation<P, M>>;
}

type OptionalIfEmpty<O> = {} extends Options<O> ? [options?: Options<O>] : [options: Options<O>];

export const api = {
    get<P extends PathsWith<"get">>(path: P, ...[options]: OptionalIfEmpty<Operation<P, "get">>) {
        return json("get", path, (options ?? {}) as Options<Operation<P, "get">>);
    },
    post<P extends PathsWith<"post">>(path: P, ...[options]: OptionalIfEmpty<Operation<P, "post">>) {
        return json("post", path, (options ?? {}) as Options<Operation<P, "post">>);
    },
    delete<P extends PathsWith<"delete">>(path: P, ...[options]: OptionalIfEmpty<Operation<P, "delete">>) {
        return json("delete", path, (options ?? {}) as Options<Operation<P, "delete">>);
    },
    /** A text answer (a log, a Markdown report), typed by the same path and parameters. */
    async text<P extends PathsWith<"get">>(
        path: P,
        accept: string,
        ...[options]: OptionalIfEmpty<Operation<P, "get">>
    ): Promise<string> {
        const opts = (options ?? {}) as { path?: object; query?: object };
        const response = await send("GET", buildUrl(path, opts.path, opts.query), accept);
        return response.text();
    },
};

/** GET /api/v1/whoami: who the token is (or, in open mode, that there are no tokens). */
export function whoami(): Promise<Schemas["Whoami"]> {
    return api.get("/api/v1/whoami");
}
