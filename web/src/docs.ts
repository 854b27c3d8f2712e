// Swagger UI over the service's own /openapi.yaml. Nothing here may reach another host: no
// validator badge (validatorUrl null), no "try it out" against other servers.
import "./docs.css";

type ReactElement = unknown;
interface SwaggerSystem {
    React: {
        createElement(type: unknown, props: Record<string, unknown>): ReactElement;
        useEffect(effect: () => void): void;
    };
}
type Wrapper = (Original: unknown, system: SwaggerSystem) => (props: Record<string, unknown>) => ReactElement;
interface ImmutableMap {
    set(key: string, value: unknown): ImmutableMap;
}

declare const SwaggerUIBundle: ((options: Record<string, unknown>) => unknown) & {
    presets: { apis: unknown };
};

// Swagger UI renders each operation's path as a deep link inside the button that expands the
// operation: a link nested in a button is one stop for the keyboard and a confusing pair for a
// screen reader. Without the link the button stays the only control; expanding an operation
// still puts its deep link in the address bar.
const summaryWithoutNestedLink: Wrapper = (Original, { React }) => (props) =>
    React.createElement(Original, {
        ...props,
        operationProps: (props.operationProps as ImmutableMap).set("isDeepLinkingEnabled", false),
    });

// Swagger UI's selects of a server, of an example and of a parameter's allowed values have no
// name (an empty <label>, a caption or a table cell not tied to them), so a screen reader
// announces a nameless combo box. They take no prop for it, and React leaves alone an attribute
// it does not manage, so the name is set once they are in the document.
const withNamedSelects =
    (selector: string, nameOf: (select: HTMLSelectElement) => string): Wrapper =>
    (Original, { React }) =>
    (props) => {
        React.useEffect(() => {
            for (const select of document.querySelectorAll<HTMLSelectElement>(selector))
                if (!select.hasAttribute("aria-label")) select.setAttribute("aria-label", nameOf(select));
        });
        return React.createElement(Original, props);
    };

// Every code theme Swagger UI ships has some token colour under 4.5:1 on its background (agate,
// the default, its numbers); tomorrow-night only its red (tags, variables), which is lightened
// here. Plugins are deep-merged, so this amends the theme.
const readableCodeTheme = () => ({
    rootInjects: {
        syntaxHighlighting: {
            styles: {
                "tomorrow-night": Object.fromEntries(
                    ["variable", "template-variable", "tag", "name", "selector-id", "selector-class", "regexp", "deletion"].map(
                        (token) => [`hljs-${token}`, { color: "#e78c8c" }],
                    ),
                ),
            },
        },
    },
});

// Swagger UI has a dark theme (html.dark-mode) but only its standalone top bar switches it on;
// the page declares both colour schemes, so it follows the reader's preference instead.
function followColourScheme(): void {
    const dark = window.matchMedia("(prefers-color-scheme: dark)");
    const apply = () => document.documentElement.classList.toggle("dark-mode", dark.matches);
    apply();
    dark.addEventListener("change", apply);
}

window.addEventListener("DOMContentLoaded", () => {
    followColourScheme();
    SwaggerUIBundle({
        url: new URL("openapi.yaml", location.href).pathname,
        dom_id: "#swagger-ui",
        presets: [SwaggerUIBundle.presets.apis],
        plugins: [
            readableCodeTheme,
            () => ({
                wrapComponents: {
                    OperationSummaryPath: summaryWithoutNestedLink,
                    Servers: withNamedSelects("select#servers", () => "Servers"),
                    ExamplesSelect: withNamedSelects("select.examples-select-element", () => "Examples"),
                    Select: withNamedSelects("tr[data-param-name] select", (select) =>
                        select.closest<HTMLElement>("tr[data-param-name]")?.dataset.paramName ?? "Value",
                    ),
                },
            }),
        ],
        layout: "BaseLayout",
        syntaxHighlight: { theme: "tomorrow-night" },
        validatorUrl: null,
        deepLinking: true,
        tryItOutEnabled: false,
        supportedSubmitMethods: [],
        withCredentials: false,
        displayRequestDuration: true,
    });
});
