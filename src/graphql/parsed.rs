//! Parsed documents kept by their text, so that a client sending the same
//! document again (the console, an integration polling one query) is not
//! parsed and measured again: parsing is a fifth of a small query's
//! instructions (BENCHMARKS.md, "Instructions per request").
//!
//! Only documents that parsed and passed [`super::cost::check_document`]
//! are kept; both depend on the text alone. What depends on the request or
//! the settings (variables, introspection) is checked on every request.
//! The map is bounded: at most [`MAX_DOCUMENTS`] documents of at most
//! [`MAX_TEXT`] bytes each; when full it is emptied, so a client sending
//! ever new documents costs a parse each, as without it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use async_graphql::parser::types::ExecutableDocument;

/// Most documents kept.
pub const MAX_DOCUMENTS: usize = 256;

/// Longest document kept, in bytes.
pub const MAX_TEXT: usize = 4 * 1024;

static DOCUMENTS: LazyLock<Mutex<HashMap<String, Arc<ExecutableDocument>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The document parsed from `text` before, if kept.
pub fn get(text: &str) -> Option<ExecutableDocument> {
    if text.len() > MAX_TEXT {
        return None;
    }
    let kept = DOCUMENTS.lock().ok()?.get(text).cloned()?;
    // Execution changes its copy (it removes skipped fields).
    Some(ExecutableDocument::clone(&kept))
}

/// Keeps `document`, parsed from `text` and within the cost limits.
pub fn keep(text: &str, document: &ExecutableDocument) {
    if text.len() > MAX_TEXT {
        return;
    }
    let document = Arc::new(document.clone());
    let mut dropped = HashMap::new();
    if let Ok(mut documents) = DOCUMENTS.lock() {
        if documents.len() >= MAX_DOCUMENTS && !documents.contains_key(text) {
            // Freed after the lock is released, not while others wait.
            dropped = std::mem::take(&mut *documents);
        }
        documents.insert(text.to_owned(), document);
    }
    drop(dropped);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(text).expect("a document")
    }

    // One test: the map is shared by the process, and the second half
    // empties it.
    #[test]
    fn documents_are_kept_by_text_within_bounds() {
        let text = "query KeptOnce($id: ID!) { userRiskAnalysis(userId: $id) { riskScore } }";
        assert!(get(text).is_none(), "nothing kept before");
        keep(text, &parse(text));
        let kept = get(text).expect("kept");
        assert_eq!(format!("{kept:?}"), format!("{:?}", parse(text)));
        assert!(get(&format!("{text} ")).is_none(), "only the same text");

        let long = format!("{{ {} }}", "__typename ".repeat(MAX_TEXT / 10));
        keep(&long, &parse(&long));
        assert!(get(&long).is_none(), "past {MAX_TEXT} bytes");

        let text = |i: usize| format!("query Filling{i} {{ __typename }}");
        for i in 0..=MAX_DOCUMENTS {
            keep(&text(i), &parse(&text(i)));
        }
        assert!(
            get(&text(0)).is_none(),
            "the first went when the map filled"
        );
        assert!(get(&text(MAX_DOCUMENTS)).is_some(), "the newest is kept");
        assert!(DOCUMENTS.lock().expect("lock").len() <= MAX_DOCUMENTS);
    }
}
