// Extra variables as a form: one field per variable a checkpoint declares (its catalog `vars`),
// typed as declared; a JSON box only when nothing is declared.
import { useId } from "preact/hooks";
import type { Schemas } from "../api/client";

export type Declarations = Record<string, Schemas["VariableDeclaration"]>;
/** The text of each field as typed, by variable name; `jsonText` is the free-form box. */
export interface VarsInput {
    fields: Record<string, string>;
    jsonText: string;
}

export const emptyVarsInput: VarsInput = { fields: {}, jsonText: "" };

/** The `extra_vars` to send, or what is wrong with the input. Empty fields are left out. */
export function extraVarsOf(
    declarations: Declarations,
    input: VarsInput,
): { vars: Record<string, unknown> } | { error: string } {
    if (Object.keys(declarations).length === 0) {
        const text = input.jsonText.trim();
        if (!text) return { vars: {} };
        try {
            const parsed: unknown = JSON.parse(text);
            if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
                return { error: 'Extra variables must be a JSON object, such as {"name": "value"}.' };
            return { vars: parsed as Record<string, unknown> };
        } catch (error) {
            return { error: `Extra variables are not valid JSON: ${(error as Error).message}` };
        }
    }
    const vars: Record<string, unknown> = {};
    for (const [name, declaration] of Object.entries(declarations)) {
        const raw = input.fields[name] ?? "";
        if (raw.trim() === "") continue;
        switch (declaration.type) {
            case "string":
                vars[name] = raw;
                break;
            case "integer":
                if (!/^-?\d+$/.test(raw.trim())) return { error: `${name} must be a whole number.` };
                vars[name] = Number.parseInt(raw.trim(), 10);
                break;
            case "boolean":
                vars[name] = raw === "true";
                break;
            case "list":
            case "dict": {
                let parsed: unknown;
                try {
                    parsed = JSON.parse(raw);
                } catch (error) {
                    return { error: `${name} is not valid JSON: ${(error as Error).message}` };
                }
                const isList = Array.isArray(parsed);
                const isDict = parsed !== null && typeof parsed === "object" && !isList;
                if (declaration.type === "list" ? !isList : !isDict)
                    return {
                        error: `${name} must be a JSON ${declaration.type === "list" ? "list, such as [1, 2]" : 'object, such as {"a": 1}'}.`,
                    };
                vars[name] = parsed;
                break;
            }
        }
    }
    return { vars };
}

function VarField(props: { name: string; declaration: Schemas["VariableDeclaration"]; value: string; onInput: (value: string) => void }) {
    const id = useId();
    const hintId = `${id}-hint`;
    const { name, declaration, value } = props;
    const common = { id, "aria-describedby": hintId, value };
    let control;
    if (declaration.choices?.length) {
        control = (
            <select {...common} onChange={(e) => props.onInput(e.currentTarget.value)}>
                <option value="">(not set)</option>
                {declaration.choices.map((choice) => (
                    <option key={String(choice)} value={String(choice)}>
                        {String(choice)}
                    </option>
                ))}
            </select>
        );
    } else if (declaration.type === "boolean") {
        control = (
            <select {...common} onChange={(e) => props.onInput(e.currentTarget.value)}>
                <option value="">(not set)</option>
                <option value="true">true</option>
                <option value="false">false</option>
            </select>
        );
    } else if (declaration.type === "list" || declaration.type === "dict") {
        control = (
            <textarea
                {...common}
                rows={2}
                spellcheck={false}
                placeholder={declaration.type === "list" ? '["a", "b"]' : '{"key": "value"}'}
                onInput={(e) => props.onInput(e.currentTarget.value)}
            />
        );
    } else {
        control = (
            <input
                {...common}
                type="text"
                class={declaration.secret ? "masked" : undefined}
                inputMode={declaration.type === "integer" ? "numeric" : undefined}
                autocomplete="off"
                spellcheck={false}
                pattern={declaration.type === "integer" ? "-?[0-9]+" : declaration.pattern}
                onInput={(e) => props.onInput(e.currentTarget.value)}
            />
        );
    }
    return (
        <div class="field">
            <label for={id}>{name}</label>
            {control}
            <span id={hintId} class="hint">
                {declaration.description} ({declaration.type}
                {declaration.pattern ? `, matching ${declaration.pattern}` : ""}
                {declaration.secret ? ", secret" : ""})
            </span>
        </div>
    );
}

export function VarsForm(props: { declarations: Declarations; input: VarsInput; onChange: (input: VarsInput) => void }) {
    const jsonId = useId();
    const entries = Object.entries(props.declarations);
    if (entries.length === 0) {
        return (
            <div class="field">
                <label for={jsonId}>Extra variables (JSON)</label>
                <textarea
                    id={jsonId}
                    rows={3}
                    spellcheck={false}
                    placeholder="{}"
                    value={props.input.jsonText}
                    onInput={(e) => props.onChange({ ...props.input, jsonText: e.currentTarget.value })}
                />
                <span class="hint">This checkpoint declares no variables; the service refuses any it does not declare.</span>
            </div>
        );
    }
    return (
        <fieldset>
            <legend>Extra variables</legend>
            {entries.map(([name, declaration]) => (
                <VarField
                    key={name}
                    name={name}
                    declaration={declaration}
                    value={props.input.fields[name] ?? ""}
                    onInput={(value) => props.onChange({ ...props.input, fields: { ...props.input.fields, [name]: value } })}
                />
            ))}
        </fieldset>
    );
}
