// Markdown (a checkpoint's report) rendered by marked and sanitized by DOMPurify before it
// reaches the page; images from other hosts are dropped, since the page requests nothing
// outside this service.
import DOMPurify from "dompurify";
import { marked } from "marked";
import { useMemo } from "preact/hooks";

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "IMG") {
        const src = node.getAttribute("src") ?? "";
        if (!src.startsWith("data:") && !(src.startsWith("/") && !src.startsWith("//"))) node.removeAttribute("src");
    }
    if (node.tagName === "A" && /^https?:/i.test(node.getAttribute("href") ?? "")) {
        node.setAttribute("rel", "noopener noreferrer");
        node.setAttribute("target", "_blank");
    }
});

export function Markdown({ text }: { text: string }) {
    const html = useMemo(() => {
        const rendered = marked.parse(text, { async: false, gfm: true });
        const clean = DOMPurify.sanitize(rendered, { FORBID_TAGS: ["style", "form"], FORBID_ATTR: ["style"] });
        // The report sits under the page's own h1 and h2: its headings start at h3.
        return clean.replace(/<(\/?)h([1-6])\b/g, (_, slash: string, level: string) => `<${slash}h${Math.min(6, Number(level) + 2)}`);
    }, [text]);
    return <div class="report markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}
