// Sign-in with an API token. The token is checked with GET /api/v1/whoami and kept in
// sessionStorage only (see session.ts).
import { useId, useState } from "preact/hooks";
import { ApiError, sentence, whoami } from "../api/client";
import { Alert, describeError } from "../components/alert";
import { setToken } from "../session";
import type { Identity } from "../session";

export function SignInPage(props: { reason: string | null; onSignedIn: (identity: Identity) => void }) {
    const id = useId();
    const [token, setTokenText] = useState("");
    const [error, setError] = useState<string | null>(props.reason);
    const [busy, setBusy] = useState(false);

    async function submit(event: Event) {
        event.preventDefault();
        const value = token.trim();
        if (!value) return setError("Enter an API token. An admin creates one with: raydeploy token create --name NAME --role ROLE");
        setBusy(true);
        setToken(value);
        try {
            const identity = await whoami();
            setTokenText("");
            props.onSignedIn(identity);
        } catch (failure) {
            setToken(null);
            setError(
                failure instanceof ApiError && failure.status === 401
                    ? `The service refused this token: ${sentence(failure.message)} Check that you copied the whole token (it starts with rdp_), or ask an admin for a new one.`
                    : describeError(failure),
            );
        } finally {
            setBusy(false);
        }
    }

    return (
        <section class="signin">
            <h1>Sign in</h1>
            <p>raydeploy needs an API token. It stays in this browser tab only and is forgotten when the tab closes.</p>
            <form onSubmit={submit}>
                <div class="field">
                    <label for={id}>API token</label>
                    {/* A text box shown as dots: a password field has no textbox role, and a
                        password manager has no business with a service token. */}
                    <input
                        id={id}
                        type="text"
                        class="masked"
                        autocomplete="off"
                        autocapitalize="off"
                        spellcheck={false}
                        value={token}
                        onInput={(e) => setTokenText(e.currentTarget.value)}
                    />
                </div>
                <Alert error={error} />
                <div class="actions">
                    <button type="submit" class="primary" disabled={busy}>
                        Sign in
                    </button>
                </div>
            </form>
        </section>
    );
}
