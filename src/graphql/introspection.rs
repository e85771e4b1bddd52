//! Refusing introspection when `INTROSPECTION=false` (SPEC §9).
//!
//! async-graphql's `disable_introspection()` (also set) answers `__schema`
//! and `__type` with a silent `null`; the handler refuses the whole request
//! instead ([`super::handler`], before it runs, over HTTP and WebSocket),
//! with `GRAPHQL_VALIDATION_FAILED`, so a client learns why. It looks at
//! every field of the parsed document, fragments included: the two fields
//! are valid only on the query root, so a match anywhere else would fail
//! validation anyway.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// The fields that introspect the schema.
const INTROSPECTION_FIELDS: [&str; 2] = ["__schema", "__type"];

/// The first introspection field `document` selects, if any.
pub fn introspects(document: &ExecutableDocument) -> Option<&'static str> {
    let operations = document
        .operations
        .iter()
        .map(|(_, operation)| &operation.node.selection_set.node);
    let fragments = document
        .fragments
        .values()
        .map(|fragment| &fragment.node.selection_set.node);
    operations.chain(fragments).find_map(in_selection_set)
}

fn in_selection_set(set: &SelectionSet) -> Option<&'static str> {
    set.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) => INTROSPECTION_FIELDS
            .into_iter()
            .find(|name| field.node.name.node == *name)
            .or_else(|| in_selection_set(&field.node.selection_set.node)),
        Selection::InlineFragment(fragment) => in_selection_set(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finds(query: &str) -> Option<&'static str> {
        introspects(&async_graphql::parser::parse_query(query).expect("a query"))
    }

    #[test]
    fn introspection_is_found_wherever_it_hides() {
        assert_eq!(finds("{ __schema { types { name } } }"), Some("__schema"));
        assert_eq!(
            finds("{ a: __type(name: \"Query\") { name } }"),
            Some("__type")
        );
        assert_eq!(
            finds("query Q { ...F } fragment F on Query { __schema { queryType { name } } }"),
            Some("__schema")
        );
        assert_eq!(
            finds("{ ... on Query { __type(name: \"X\") { name } } }"),
            Some("__type")
        );
        assert_eq!(finds("{ __typename stats { totalUsers } }"), None);
    }
}
