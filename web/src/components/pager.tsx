// "Previous page" / "Next page" over a list paged by the API's opaque cursors: `cursors` holds
// the cursors of the pages before this one, so going back needs no cursor from the service.
interface PagerProps {
    cursor: string | null;
    cursors: (string | null)[];
    next: string | null | undefined;
    setCursor: (cursor: string | null) => void;
    setCursors: (cursors: (string | null)[]) => void;
}

export function Pager({ cursor, cursors, next, setCursor, setCursors }: PagerProps) {
    return (
        <div class="pager">
            <button
                type="button"
                disabled={cursors.length === 0}
                onClick={() => {
                    setCursor(cursors[cursors.length - 1] ?? null);
                    setCursors(cursors.slice(0, -1));
                }}
            >
                Previous page
            </button>
            <button
                type="button"
                disabled={!next}
                onClick={() => {
                    if (!next) return;
                    setCursors([...cursors, cursor]);
                    setCursor(next);
                }}
            >
                Next page
            </button>
        </div>
    );
}
