//! The OpenAPI 3 document of the legacy routes, served at
//! `/api/openapi.json` and committed as `openapi.json` (a test fails when the
//! two differ).

use axum::Json;
use utoipa::OpenApi;

/// The legacy REST API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Risk Monitor legacy REST API",
        description = "The routes of the legacy Python system, kept for its clients. New tools use GraphQL at /graphql.",
        version = "1.0.0",
    ),
    paths(
        super::health,
        super::risky_users,
        super::user_risk_analysis,
        super::stats,
        super::send_alert,
        super::export::risky_users_csv,
        super::export::risky_users_json,
    ),
    components(schemas(super::legacy::Detail)),
    tags(
        (name = "legacy", description = "Compatibility routes of the legacy API"),
        (name = "export", description = "The risky list as a file (role viewer)"),
    ),
)]
pub struct LegacyApi;

/// `GET /api/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(LegacyApi::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_openapi_document_matches_the_code() {
        let json = LegacyApi::openapi().to_pretty_json().expect("serialize") + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(path, &json).expect("write openapi.json");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == json,
            "openapi.json is stale: run `UPDATE_SNAPSHOTS=1 cargo test committed_openapi` and commit it"
        );
    }

    #[test]
    fn the_document_describes_every_legacy_route() {
        let doc = LegacyApi::openapi();
        for path in [
            "/",
            "/api/risky-users",
            "/api/user/{user_id}/risk-analysis",
            "/api/stats",
            "/api/alert/{user_id}",
            "/api/export/risky-users.csv",
            "/api/export/risky-users.json",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path} is documented");
        }
    }
}
