// Times in the browser's zone, with the UTC instant on hover and in `datetime`.
const local = new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
});

export function utcText(date: Date): string {
    return `${date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "")} UTC`;
}

export function Time({ value }: { value: string | null | undefined }) {
    if (!value) return <span class="muted">–</span>;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return <span>{value}</span>;
    return (
        <time dateTime={date.toISOString()} title={utcText(date)}>
            {local.format(date)}
        </time>
    );
}

/** "4 s", "2 min 5 s": how long between two instants (or until now). */
export function Duration({ from, to }: { from: string | null | undefined; to: string | null | undefined }) {
    if (!from) return <span class="muted">–</span>;
    const ms = (to ? new Date(to).getTime() : Date.now()) - new Date(from).getTime();
    const seconds = Math.max(0, Math.round(ms / 1000));
    const text = seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
    return <span>{text}</span>;
}
