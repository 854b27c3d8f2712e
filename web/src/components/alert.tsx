import { ApiError } from "../api/client";

/** The text a person reads for a failure: the service's message and what to do next. */
export function describeError(error: unknown): string {
    if (error instanceof ApiError) return error.describe();
    if (error instanceof Error) return error.message;
    return String(error);
}

export function Alert({ error }: { error: unknown }) {
    if (error === null || error === undefined || error === "") return null;
    return (
        <div role="alert" class="alert">
            {typeof error === "string" ? error : describeError(error)}
        </div>
    );
}
