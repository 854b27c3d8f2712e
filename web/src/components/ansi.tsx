// ANSI SGR colours of a log line as Preact spans. The text only ever becomes text nodes (never
// HTML), so nothing in a log can inject markup. Each line is rendered on its own: Ansible
// colours line by line, and lines arrive out of order when a reconnect fills a gap.
import type { JSX } from "preact";

interface Style {
    fg: string | null;
    bg: string | null;
    bold: boolean;
    dim: boolean;
    italic: boolean;
    underline: boolean;
}

const plain: Style = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };

// xterm's 256-colour palette past the 16 named colours: a 6x6x6 cube, then 24 greys.
function paletteColour(index: number): string | null {
    if (index < 0 || index > 255 || !Number.isInteger(index)) return null;
    if (index < 16) return `c${index}`;
    if (index < 232) {
        const n = index - 16;
        const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
        return `rgb(${level(Math.floor(n / 36))}, ${level(Math.floor(n / 6) % 6)}, ${level(n % 6)})`;
    }
    const grey = 8 + (index - 232) * 10;
    return `rgb(${grey}, ${grey}, ${grey})`;
}

/** Applies one SGR parameter list (the numbers of `ESC [ ... m`) to `style`. */
function applySgr(style: Style, params: number[]): Style {
    const next = { ...style };
    for (let i = 0; i < params.length; ++i) {
        const code = params[i] ?? 0;
        if (code === 0) Object.assign(next, plain);
        else if (code === 1) next.bold = true;
        else if (code === 2) next.dim = true;
        else if (code === 3) next.italic = true;
        else if (code === 4) next.underline = true;
        else if (code === 22) next.bold = next.dim = false;
        else if (code === 23) next.italic = false;
        else if (code === 24) next.underline = false;
        else if (code >= 30 && code <= 37) next.fg = `c${code - 30}`;
        else if (code >= 90 && code <= 97) next.fg = `c${code - 90 + 8}`;
        else if (code === 39) next.fg = null;
        else if (code >= 40 && code <= 47) next.bg = `c${code - 40}`;
        else if (code >= 100 && code <= 107) next.bg = `c${code - 100 + 8}`;
        else if (code === 49) next.bg = null;
        else if (code === 38 || code === 48) {
            let colour: string | null = null;
            if (params[i + 1] === 5) {
                colour = paletteColour(params[i + 2] ?? -1);
                i += 2;
            } else if (params[i + 1] === 2) {
                const [r, g, b] = [params[i + 2], params[i + 3], params[i + 4]].map((v) => Math.min(255, Math.max(0, v ?? 0)));
                colour = `rgb(${r}, ${g}, ${b})`;
                i += 4;
            }
            if (code === 38) next.fg = colour;
            else next.bg = colour;
        }
    }
    return next;
}

function span(text: string, style: Style, key: number): JSX.Element | string {
    const classes: string[] = [];
    const inline: Record<string, string> = {};
    if (style.bold) classes.push("ansi-bold");
    if (style.dim) classes.push("ansi-dim");
    if (style.italic) classes.push("ansi-italic");
    if (style.underline) classes.push("ansi-underline");
    // Named colours are classes (themed in CSS); other colours are set through the DOM's style
    // object, which the page's CSP allows, unlike style attributes in markup.
    if (style.fg?.startsWith("c")) classes.push(`ansi-fg-${style.fg.slice(1)}`);
    else if (style.fg) inline.color = style.fg;
    if (style.bg?.startsWith("c")) classes.push(`ansi-bg-${style.bg.slice(1)}`);
    else if (style.bg) inline.backgroundColor = style.bg;
    if (classes.length === 0 && Object.keys(inline).length === 0) return text;
    return (
        <span key={key} class={classes.join(" ") || undefined} style={Object.keys(inline).length ? inline : undefined}>
            {text}
        </span>
    );
}

// CSI sequences (SGR and the cursor and erase ones, which a log has no use for) and OSC ones.
const escapes = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

export function renderAnsi(line: string): (JSX.Element | string)[] {
    if (!line.includes("\x1b")) return [line];
    const parts: (JSX.Element | string)[] = [];
    let style = plain;
    let last = 0;
    for (const match of line.matchAll(escapes)) {
        const index = match.index ?? 0;
        if (index > last) parts.push(span(line.slice(last, index), style, parts.length));
        if (match[2] === "m") {
            const params = (match[1] ?? "").split(";").map((part) => (part === "" ? 0 : Number.parseInt(part, 10)));
            style = applySgr(style, params);
        }
        last = index + match[0].length;
    }
    if (last < line.length) parts.push(span(line.slice(last), style, parts.length));
    return parts;
}
