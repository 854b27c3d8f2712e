#!/usr/bin/env python3
"""Turns the WebUI's build output (web/build.mjs --outdir DIR) into a C++ source that defines
raydeploy::embedded::web_assets(): every file the service serves at / , /docs and /assets/...,
with a gzip copy made here once (never per request) and a strong ETag.

Usage: embed_web.py DIR OUTPUT.cpp   (OUTPUT is rewritten only when its content changes, so an
unchanged UI does not recompile anything)."""
import gzip
import hashlib
import os
import sys

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# Text formats compress well; the others are compressed already.
COMPRESSIBLE = {".html", ".js", ".css", ".svg", ".json", ".map", ".txt", ".ico"}
PAGES = {"index.html": "/", "docs.html": "/docs"}


def served_files(root):
    """(url path, file path) for the layout build.mjs promises; anything else there is an error,
    so a stray file never becomes public by accident."""
    files = []
    for name in sorted(os.listdir(root)):
        full = os.path.join(root, name)
        if name in PAGES:
            files.append((PAGES[name], full))
        elif name == "assets" and os.path.isdir(full):
            for asset in sorted(os.listdir(full)):
                if not all(c.isalnum() or c in "-_." for c in asset) or asset.startswith("."):
                    sys.exit(f"embed_web: asset name {asset!r} has characters a URL path segment must not")
                files.append((f"/assets/{asset}", os.path.join(full, asset)))
        elif name.startswith("."):
            continue
        else:
            sys.exit(f"embed_web: unexpected {full}: build.mjs writes only index.html, docs.html and assets/")
    for page, url in PAGES.items():
        if not any(u == url for u, _ in files):
            sys.exit(f"embed_web: {root}/{page} is missing; run `node web/build.mjs --outdir {root}`")
    return files


def c_bytes(data):
    # Decimal, 40 per line: compact, and fast for the compiler to read.
    return ",\n".join(",".join(str(b) for b in data[i:i + 40]) for i in range(0, len(data), 40))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    root, output = sys.argv[1], sys.argv[2]
    arrays, entries = [], []
    for index, (url, path) in enumerate(served_files(root)):
        with open(path, "rb") as f:
            body = f.read()
        ext = os.path.splitext(path)[1]
        if ext not in CONTENT_TYPES:
            sys.exit(f"embed_web: no content type known for {path}; add it to CONTENT_TYPES")
        packed = gzip.compress(body, compresslevel=9, mtime=0) if ext in COMPRESSIBLE else b""
        if len(packed) >= len(body):
            packed = b""
        etag = hashlib.sha256(body).hexdigest()[:20]
        arrays.append(f"const unsigned char body_{index}[] = {{\n{c_bytes(body)}}};\n")
        gzip_view = "{}"
        if packed:
            arrays.append(f"const unsigned char gzip_{index}[] = {{\n{c_bytes(packed)}}};\n")
            gzip_view = f"{{reinterpret_cast<const char*>(gzip_{index}), {len(packed)}}}"
        entries.append(f'    {{"{url}", "{CONTENT_TYPES[ext]}", '
                       f"{{reinterpret_cast<const char*>(body_{index}), {len(body)}}}, {gzip_view}, "
                       f'"{etag}"}},\n')
    source = ("// Generated from the WebUI's build output by lib/embed_web.py; do not edit.\n"
              '#include "raydeploy/api/web_assets.hpp"\n\n'
              "namespace raydeploy::embedded {\nnamespace {\n" + "".join(arrays) +
              "const web_asset assets[] = {\n" + "".join(entries) + "};\n}  // namespace\n\n"
              "std::span<const web_asset> web_assets() { return assets; }\n\n"
              "}  // namespace raydeploy::embedded\n")
    try:
        with open(output, encoding="utf-8") as f:
            if f.read() == source:
                return
    except FileNotFoundError:
        pass
    with open(output + ".tmp", "w", encoding="utf-8") as f:
        f.write(source)
    os.replace(output + ".tmp", output)


if __name__ == "__main__":
    main()
