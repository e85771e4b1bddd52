//! HTTP details shared by the front ends, which import this rather than
//! each other: content negotiation between the browser pages and the APIs.

use axum::http::{HeaderMap, header};

/// Whether the client prefers HTML to JSON (a browser), by the `Accept`
/// header's quality values; a tie (`*/*`, curl) is JSON.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut html: f32 = 0.0;
    let mut json: f32 = 0.0;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" => html = html.max(q),
            "application/json" | "application/graphql-response+json" => json = json.max(q),
            "*/*" => {
                html = html.max(q);
                json = json.max(q);
            }
            "application/*" => json = json.max(q),
            "text/*" => html = html.max(q),
            _ => {}
        }
    }
    // `*/*` counts for both; only an explicit, stronger text/html wins.
    html > json
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().expect("header"));
        headers
    }

    #[test]
    fn browsers_get_html_and_api_clients_get_json() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        assert!(prefers_html(&accept(chrome)));
        assert!(!prefers_html(&accept("*/*")), "curl");
        assert!(!prefers_html(&accept("application/json")));
        assert!(!prefers_html(&accept("application/json, text/html;q=0.5")));
        assert!(prefers_html(&accept("text/html")));
        assert!(!prefers_html(&HeaderMap::new()), "no Accept: JSON");
    }
}
