//! The vendored GraphiQL explorer.
//!
//! The service serves the GraphiQL page at `/graphiql` ([`INDEX_HTML`]) and its
//! static files under `/graphiql/assets/<name>` ([`ASSETS`], looked up with
//! [`asset`]). Every byte is compiled into the binary with `include_bytes!` /
//! `include_str!`, so the explorer needs no CDN and makes no request that leaves
//! the service: the page loads only `/graphiql/assets/…` files and sends its
//! queries to the same-origin `/graphql` endpoint. That keeps the explorer
//! working on machines without internet access and keeps third parties from
//! seeing who browses the schema.
//!
//! The third-party files (GraphiQL's UMD bundle and CSS, React and ReactDOM's
//! UMD builds) are copied unmodified from their npm packages. Their
//! `package@version`, SHA-256, licence and the npm commands that refresh them
//! are recorded in `src/graphql/explorer/VERSIONS.md`; the licence texts are in
//! `src/graphql/explorer/LICENSES/`. `index.html`, `explorer-init.js` and
//! `favicon.svg` are this project's own files.

/// One static asset.
#[derive(Debug)]
pub struct Asset {
    /// The asset's name: the part of its URL after [`ASSETS_PREFIX`], e.g. `graphiql.min.js`.
    pub path: &'static str,
    /// The value for the `Content-Type` response header.
    pub content_type: &'static str,
    /// The file's bytes, exactly as vendored.
    pub body: &'static [u8],
}

/// The URL path at which the service serves [`INDEX_HTML`].
pub const INDEX_PATH: &str = "/graphiql";

/// The URL prefix under which the service serves [`ASSETS`]; the page refers to
/// each asset as `ASSETS_PREFIX` followed by [`Asset::path`].
pub const ASSETS_PREFIX: &str = "/graphiql/assets/";

/// The same-origin GraphQL endpoint the explorer sends its queries to.
pub const GRAPHQL_PATH: &str = "/graphql";

/// The same-origin WebSocket endpoint of the explorer's subscriptions (the
/// page builds its `ws:`/`wss:` URL from its own location).
pub const SUBSCRIPTIONS_PATH: &str = "/graphql/ws";

/// `Content-Type` of [`INDEX_HTML`].
pub const INDEX_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// A `Content-Security-Policy` value under which the explorer works and which
/// forbids the browser to load anything from another origin (fonts and images
/// come from `data:` URIs inside the CSS). Sending it with [`INDEX_HTML`] is
/// optional, but makes "no request leaves the service" enforced by the browser.
/// `connect-src 'self'` also admits the page's own `ws:`/`wss:` origin (CSP
/// Level 3), which the subscriptions use, and no other socket.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The explorer's HTML page.
pub const INDEX_HTML: &str = include_str!("index.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

// The bodies live in statics, so the binary holds one copy of each file however
// many places use the `ASSETS` constant: `body: include_bytes!(…)` written in
// the constant itself may be copied into the binary at each use (it was, twice,
// in an unoptimised build). `ASSETS` refers to the statics instead.
static REACT_JS: [u8; include_bytes!("react.production.min.js").len()] =
    *include_bytes!("react.production.min.js");
static REACT_DOM_JS: [u8; include_bytes!("react-dom.production.min.js").len()] =
    *include_bytes!("react-dom.production.min.js");
static GRAPHIQL_JS: [u8; include_bytes!("graphiql.min.js").len()] =
    *include_bytes!("graphiql.min.js");
static GRAPHIQL_CSS: [u8; include_bytes!("graphiql.min.css").len()] =
    *include_bytes!("graphiql.min.css");
static INIT_JS: [u8; include_bytes!("explorer-init.js").len()] =
    *include_bytes!("explorer-init.js");
static FAVICON_SVG: [u8; include_bytes!("favicon.svg").len()] = *include_bytes!("favicon.svg");

/// Every asset served under /graphiql/assets/.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "react.production.min.js",
        content_type: JS,
        body: &REACT_JS,
    },
    Asset {
        path: "react-dom.production.min.js",
        content_type: JS,
        body: &REACT_DOM_JS,
    },
    Asset {
        path: "graphiql.min.js",
        content_type: JS,
        body: &GRAPHIQL_JS,
    },
    Asset {
        path: "graphiql.min.css",
        content_type: CSS,
        body: &GRAPHIQL_CSS,
    },
    Asset {
        path: "explorer-init.js",
        content_type: JS,
        body: &INIT_JS,
    },
    Asset {
        path: "favicon.svg",
        content_type: SVG,
        body: &FAVICON_SVG,
    },
];

/// The asset named `name` (the part after /graphiql/assets/), if any.
///
/// Only exact names from [`ASSETS`] match, so a request such as
/// `../Cargo.toml` can never reach the file system.
#[must_use]
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value of a `src=` or `href=` attribute in `html`, quoted with `"` or `'`.
    fn referenced_urls(html: &str) -> Vec<&str> {
        let mut urls = Vec::new();
        for attribute in ["src=", "href="] {
            for (at, _) in html.match_indices(attribute) {
                let rest = &html[at + attribute.len()..];
                let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                    panic!("unquoted {attribute} attribute in index.html near byte {at}");
                };
                let value = &rest[1..];
                let end = value
                    .find(quote)
                    .unwrap_or_else(|| panic!("unterminated {attribute} near byte {at}"));
                urls.push(&value[..end]);
            }
        }
        urls
    }

    #[test]
    fn every_url_in_the_page_is_a_local_asset() {
        let urls = referenced_urls(INDEX_HTML);
        // favicon, stylesheet, React, ReactDOM, GraphiQL, the init script.
        assert_eq!(urls.len(), 6, "unexpected URLs in index.html: {urls:?}");
        for url in urls {
            let name = url
                .strip_prefix(ASSETS_PREFIX)
                .unwrap_or_else(|| panic!("{url} is not under {ASSETS_PREFIX}"));
            assert!(asset(name).is_some(), "{url} is referenced but not served");
        }
    }

    #[test]
    fn every_asset_is_used_by_the_page() {
        for asset in ASSETS {
            let url = format!("{ASSETS_PREFIX}{}", asset.path);
            assert!(
                INDEX_HTML.contains(&format!("\"{url}\"")),
                "{url} is served but index.html does not load it"
            );
        }
    }

    /// Finds a URL that a browser would fetch from another origin while running
    /// `text`, or `None`.
    ///
    /// What is scanned, case-insensitively: each occurrence of an HTML
    /// attribute that loads a resource (`src=`, `href=`), a CSS `url(` or
    /// `@import`, or a JS dynamic `import(` / `importScripts(`, followed by
    /// optional whitespace and an optional quote (`"`, `'` or a backtick), whose
    /// value starts with `http://`, `https://` or `//` (protocol-relative).
    /// What is deliberately not matched: URLs that are only text, such as a
    /// licence comment, an error-message link, an SVG/XML namespace
    /// (`xmlns="http://www.w3.org/…"`, `"http://www.w3.org/2000/svg"` passed to
    /// `createElementNS`), or a link the user may click (React renders
    /// `href:"https://…"`, with a colon, for GraphiQL's own "CodeMirror key maps"
    /// help link and logo; following a link is the user's choice, not a load).
    fn remote_load(text: &str) -> Option<String> {
        let lower = text.to_ascii_lowercase();
        let openers = [
            "src=",
            "href=",
            "url(",
            "@import",
            "import(",
            "importscripts(",
        ];
        for opener in openers {
            for (at, _) in lower.match_indices(opener) {
                let rest = lower[at + opener.len()..].trim_start();
                let rest = rest
                    .strip_prefix(['"', '\'', '`'])
                    .unwrap_or(rest)
                    .trim_start();
                // `@import url(…)` is also caught by the `url(` opener.
                if ["http://", "https://", "//"]
                    .iter()
                    .any(|scheme| rest.starts_with(scheme))
                {
                    let end = (at + 80).min(lower.len());
                    let excerpt = lower.get(at..end).unwrap_or(opener);
                    return Some(excerpt.to_owned());
                }
            }
        }
        None
    }

    #[test]
    fn the_scanner_catches_remote_loads() {
        for remote in [
            r#"<script src="https://unpkg.com/react"></script>"#,
            r#"<link href='http://fonts.googleapis.com/css'>"#,
            "@font-face{src:url(https://fonts.gstatic.com/x.woff2)}",
            "@import \"https://esm.sh/x.css\";",
            "@import url(//cdn.jsdelivr.net/x.css);",
            "await import( 'https://esm.sh/graphiql' )",
            "importScripts(`https://cdn.example/worker.js`)",
            "<IMG SRC=//cdn.example/x.png>",
        ] {
            assert!(remote_load(remote).is_some(), "missed: {remote}");
        }
        for harmless in [
            r#"<script src="/graphiql/assets/graphiql.min.js"></script>"#,
            "src:url(data:font/woff2;base64,AAAA)",
            r#"<svg xmlns="http://www.w3.org/2000/svg"></svg>"#,
            r#"/** @license see https://github.com/graphql/graphiql */"#,
            r#"jsx("a",{href:"https://codemirror.net/5/doc/manual.html"})"#,
        ] {
            assert_eq!(remote_load(harmless), None, "false alarm: {harmless}");
        }
    }

    #[test]
    fn nothing_is_loaded_from_another_origin() {
        assert_eq!(remote_load(INDEX_HTML), None, "index.html");
        for asset in ASSETS {
            let text = String::from_utf8_lossy(asset.body);
            assert_eq!(remote_load(&text), None, "{}", asset.path);
        }
    }

    #[test]
    fn the_page_is_the_risk_monitor_explorer() {
        assert!(INDEX_HTML.contains("<title>Risk Monitor — GraphiQL</title>"));
        let init = asset("explorer-init.js").expect("init script");
        let init = std::str::from_utf8(init.body).expect("init script is UTF-8");
        assert!(init.contains(&format!("url: '{GRAPHQL_PATH}',")));
        assert!(init.contains(&format!("window.location.host + '{SUBSCRIPTIONS_PATH}'")));
        assert!(init.contains("riskyUsers(first: 10)"));
        for field in [
            "totalCount",
            "user { id name email }",
            "riskScore",
            "riskLevel",
            "patterns",
        ] {
            assert!(init.contains(field), "default query lacks {field}");
        }
    }

    #[test]
    fn lookup_is_exact() {
        for asset in ASSETS {
            let found = super::asset(asset.path).expect("listed asset resolves");
            assert_eq!(found.path, asset.path);
            assert!(std::ptr::eq(found.body, asset.body));
            assert!(!found.body.is_empty(), "{} is empty", asset.path);
            let expected = match asset.path.rsplit_once('.').map(|(_, ext)| ext) {
                Some("js") => JS,
                Some("css") => CSS,
                Some("svg") => SVG,
                other => panic!("unexpected extension {other:?}"),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
        for missing in [
            "",
            "/graphiql.min.js",
            "../Cargo.toml",
            "GRAPHIQL.MIN.JS",
            "index.html",
        ] {
            assert!(asset(missing).is_none(), "{missing:?} must not resolve");
        }
    }

    #[test]
    fn vendored_files_are_recorded_and_small() {
        let versions = include_str!("VERSIONS.md");
        for asset in ASSETS {
            assert!(
                versions.contains(asset.path),
                "VERSIONS.md omits {}",
                asset.path
            );
        }
        for licence in [
            include_str!("LICENSES/graphiql-LICENSE"),
            include_str!("LICENSES/react-LICENSE"),
            include_str!("LICENSES/react-dom-LICENSE"),
        ] {
            assert!(licence.starts_with("MIT License"));
        }
        let total: usize = ASSETS.iter().map(|a| a.body.len()).sum::<usize>() + INDEX_HTML.len();
        assert!(
            total < 6 * 1024 * 1024,
            "vendored explorer is {total} bytes"
        );
    }
}
