//! The console's static files, compiled into the binary (`assets/`, listed
//! with checksums and licence in `assets/VERSIONS.md`). Pages name them with
//! a content hash in the query (`console.css?v=…`), so browsers may keep
//! them for a year and still never run a stale copy after an upgrade.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One file served under `/console/assets/`.
pub struct Asset {
    /// Its name in the URL.
    pub name: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every file the console serves.
pub const ASSETS: [Asset; 3] = [
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/console.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("assets/favicon.svg"),
    },
];

/// The first 16 hex digits of each asset's SHA-256, in [`ASSETS`]' order.
static VERSIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| hex::encode(&Sha256::digest(asset.body)[..8]))
        .collect()
});

/// The URL of asset `name`, with its content hash.
pub fn url(name: &str) -> String {
    let version = ASSETS
        .iter()
        .position(|asset| asset.name == name)
        .and_then(|index| VERSIONS.get(index))
        .map_or("", String::as_str);
    format!("/console/assets/{name}?v={version}")
}

/// `GET /console/assets/{name}`: the file, cacheable for a year (its URL
/// changes with its content).
pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such console asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_file_lists_each_asset_with_its_size_and_checksum() {
        let listed = include_str!("assets/VERSIONS.md");
        for asset in &ASSETS {
            let row = listed
                .lines()
                .find(|line| line.starts_with(&format!("| `{}` |", asset.name)))
                .unwrap_or_else(|| panic!("{} is listed", asset.name));
            let sha = hex::encode(Sha256::digest(asset.body));
            assert!(
                row.contains(&format!("`{sha}`")),
                "{}: sha256 {sha}",
                asset.name
            );
            assert!(
                row.contains(&format!("| {} |", asset.body.len())),
                "{}: {} bytes",
                asset.name,
                asset.body.len()
            );
        }
    }
}
