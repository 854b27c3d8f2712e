// The fields of a list's filter form (history, audit trail): a label over each control, and an
// empty value, shown as "any", for no filter. `id` must be unique on the page (useId).
import type { ComponentChildren } from "preact";

interface FieldProps {
    id: string;
    label: string;
    value: string;
    onChange: (value: string) => void;
}

/** One of a fixed set: `options` (plain names) or `children` (grouped <option>s) after "any". */
export function ChoiceFilter({ id, label, value, onChange, options, children }: FieldProps & { options?: readonly string[]; children?: ComponentChildren }) {
    return (
        <div class="field">
            <label for={id}>{label}</label>
            <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
                <option value="">any</option>
                {options?.map((name) => (
                    <option key={name} value={name}>
                        {name}
                    </option>
                ))}
                {children}
            </select>
        </div>
    );
}

/** Free text matched exactly by the service, with `suggestions` offered as the user types. */
export function TextFilter({ id, label, value, onChange, suggestions }: FieldProps & { suggestions?: readonly string[] }) {
    return (
        <div class="field">
            <label for={id}>{label}</label>
            <input
                id={id}
                type="text"
                list={suggestions ? `${id}-suggestions` : undefined}
                value={value}
                placeholder="any"
                autocomplete="off"
                spellcheck={false}
                onChange={(e) => onChange(e.currentTarget.value)}
            />
            {suggestions && (
                <datalist id={`${id}-suggestions`}>
                    {suggestions.map((suggestion) => (
                        <option key={suggestion} value={suggestion} />
                    ))}
                </datalist>
            )}
        </div>
    );
}

/** A local date and time; the page turns it into the API's created_after. */
export function SinceFilter({ id, value, onChange }: Omit<FieldProps, "label">) {
    return (
        <div class="field">
            <label for={id}>Since</label>
            <input id={id} type="datetime-local" value={value} onChange={(e) => onChange(e.currentTarget.value)} />
        </div>
    );
}
