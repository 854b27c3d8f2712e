// A modal dialog on the native <dialog>: the browser traps focus inside it and turns Escape into
// `cancel`; focus goes back to whatever opened it.
import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef } from "preact/hooks";

export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
    const ref = useRef<HTMLDialogElement>(null);
    const titleId = useId();
    useEffect(() => {
        const dialog = ref.current;
        if (!dialog) return undefined;
        const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
        if (!dialog.open) dialog.showModal();
        return () => {
            if (dialog.open) dialog.close();
            if (opener?.isConnected) opener.focus();
        };
    }, []);
    return (
        <dialog
            ref={ref}
            aria-labelledby={titleId}
            class={props.wide ? "wide" : undefined}
            onCancel={(event) => {
                event.preventDefault();
                props.onClose();
            }}
        >
            <h2 id={titleId}>{props.title}</h2>
            {props.children}
        </dialog>
    );
}
