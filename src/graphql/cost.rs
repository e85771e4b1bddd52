//! What a GraphQL document costs, bounded before async-graphql sees it.
//!
//! async-graphql's checks (recursion depth, validation, complexity) follow
//! every fragment spread anew, so a document of a few hundred bytes whose
//! fragments each spread the next one twice costs them 2^levels visits, on
//! a worker thread, before the complexity limit refuses it. Its
//! parser also recurses once per nesting level of the text. The checks here
//! are linear in the document: [`check_text`] counts the nesting of the raw
//! text before it is parsed, and [`check_document`] counts the selections
//! the document expands to with each fragment's size computed once, so that
//! a document past a limit is refused in microseconds whatever its shape.
//! Documents under the limits then go through async-graphql's own checks,
//! whose cost these limits bound.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};

use crate::error::Code;

/// Deepest nesting of `{`, `(` and `[` in a document's text (the parser
/// recurses once per level, and refuses past 64 levels of selections).
pub const MAX_TEXT_NESTING: usize = 64;
/// Most selections (fields, fragment spreads, inline fragments) written in a
/// document, its fragment definitions included: the explorer's introspection
/// query has 72.
pub const MAX_SELECTIONS: usize = 1_000;
/// Most selections a document expands to, each fragment counted wherever it
/// is spread (and once more on its own, as validation visits it): the
/// introspection query expands to 468.
pub const MAX_EXPANDED_SELECTIONS: usize = 2_000;
/// Most variables an operation declares.
pub const MAX_VARIABLES: usize = 100;
/// Deepest nesting of selections with fragment spreads and inline fragments
/// counted as a level each (async-graphql's `limit_recursive_depth`).
pub const MAX_RECURSIVE_DEPTH: usize = 32;

/// Why a document was refused before it ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `QUERY_TOO_DEEP`, `QUERY_TOO_COMPLEX`, or `GRAPHQL_VALIDATION_FAILED`
    /// for a fragment cycle.
    pub code: Code,
    /// What the client should change.
    pub message: String,
}

impl Refusal {
    fn too_deep(message: String) -> Self {
        Self {
            code: Code::QueryTooDeep,
            message,
        }
    }

    fn too_complex(message: String) -> Self {
        Self {
            code: Code::QueryTooComplex,
            message,
        }
    }
}

/// Refuses a text whose brackets nest deeper than [`MAX_TEXT_NESTING`],
/// outside strings and comments. One pass over the bytes.
pub fn check_text(query: &str) -> Result<(), Refusal> {
    let bytes = query.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                if depth > MAX_TEXT_NESTING {
                    return Err(Refusal::too_deep(format!(
                        "the query nests brackets more than {MAX_TEXT_NESTING} deep"
                    )));
                }
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Refuses a parsed document past [`MAX_SELECTIONS`],
/// [`MAX_EXPANDED_SELECTIONS`], [`MAX_VARIABLES`] or
/// [`MAX_RECURSIVE_DEPTH`]. Each fragment is measured once (memoised), so
/// this is linear in the document's size; counts saturate.
pub fn check_document(document: &ExecutableDocument) -> Result<(), Refusal> {
    let operations: Vec<&Positioned<OperationDefinition>> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values().collect(),
    };

    let written = operations
        .iter()
        .map(|op| written_selections(&op.node.selection_set))
        .chain(
            document
                .fragments
                .values()
                .map(|f| written_selections(&f.node.selection_set)),
        )
        .fold(0usize, usize::saturating_add);
    if written > MAX_SELECTIONS {
        return Err(Refusal::too_complex(format!(
            "the query has {written} selections; at most {MAX_SELECTIONS} are accepted"
        )));
    }
    if let Some(op) = operations
        .iter()
        .find(|op| op.node.variable_definitions.len() > MAX_VARIABLES)
    {
        return Err(Refusal::too_complex(format!(
            "an operation declares {} variables; at most {MAX_VARIABLES} are accepted",
            op.node.variable_definitions.len()
        )));
    }

    let mut measure = Measure {
        document,
        fragments: HashMap::new(),
    };
    let mut expanded = 0usize;
    let roots = operations
        .iter()
        .map(|op| &op.node.selection_set)
        .chain(document.fragments.values().map(|f| &f.node.selection_set));
    for set in roots {
        let size = measure.selection_set(set, 0)?;
        expanded = expanded.saturating_add(size.selections);
        if expanded > MAX_EXPANDED_SELECTIONS {
            return Err(Refusal::too_complex(format!(
                "the query expands to more than {MAX_EXPANDED_SELECTIONS} selections \
                 (fragments counted wherever they are spread)"
            )));
        }
    }
    Ok(())
}

/// Selections written in `set`, nested ones included (spreads not followed).
fn written_selections(set: &Positioned<SelectionSet>) -> usize {
    set.node
        .items
        .iter()
        .map(|selection| {
            1usize.saturating_add(match &selection.node {
                Selection::Field(field) => written_selections(&field.node.selection_set),
                Selection::InlineFragment(inline) => written_selections(&inline.node.selection_set),
                Selection::FragmentSpread(_) => 0,
            })
        })
        .fold(0, usize::saturating_add)
}

/// A selection set's expanded size and nesting (levels below it).
#[derive(Clone, Copy, Debug, Default)]
struct Size {
    selections: usize,
    depth: usize,
}

/// A fragment's size: being measured (met again, it is a cycle), or known.
#[derive(Clone, Copy)]
enum Known {
    InProgress,
    Done(Size),
}

struct Measure<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a Name, Known>,
}

impl<'a> Measure<'a> {
    /// The size of `set` found `level` levels below its root; refuses as
    /// soon as the nesting passes [`MAX_RECURSIVE_DEPTH`], which also bounds
    /// this recursion.
    fn selection_set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        level: usize,
    ) -> Result<Size, Refusal> {
        let too_deep = || {
            Refusal::too_deep(format!(
                "the query nests selections and fragments more than {MAX_RECURSIVE_DEPTH} deep"
            ))
        };
        if level > MAX_RECURSIVE_DEPTH {
            return Err(too_deep());
        }
        let mut total = Size::default();
        for selection in &set.node.items {
            let nested = match &selection.node {
                Selection::Field(field) if field.node.selection_set.node.items.is_empty() => {
                    Size::default()
                }
                Selection::Field(field) => {
                    let inner = self.selection_set(&field.node.selection_set, level + 1)?;
                    Size {
                        depth: inner.depth + 1,
                        ..inner
                    }
                }
                Selection::InlineFragment(inline) => {
                    let inner = self.selection_set(&inline.node.selection_set, level + 1)?;
                    Size {
                        depth: inner.depth + 1,
                        ..inner
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let inner = self.fragment(&spread.node.fragment_name.node, level + 1)?;
                    if level + 1 + inner.depth > MAX_RECURSIVE_DEPTH {
                        return Err(too_deep());
                    }
                    Size {
                        depth: inner.depth + 1,
                        ..inner
                    }
                }
            };
            total.selections = total
                .selections
                .saturating_add(1)
                .saturating_add(nested.selections);
            total.depth = total.depth.max(nested.depth);
        }
        Ok(total)
    }

    /// The size of the fragment `name`, measured once; an unknown fragment
    /// (which validation reports) counts as empty. A fragment that spreads
    /// itself, directly or not, has no size: it is refused here, as
    /// validation would refuse it.
    fn fragment(&mut self, name: &'a Name, level: usize) -> Result<Size, Refusal> {
        match self.fragments.get(name) {
            Some(Known::Done(size)) => return Ok(*size),
            Some(Known::InProgress) => {
                return Err(Refusal {
                    code: Code::GraphqlValidationFailed,
                    message: format!("the fragment {name} spreads itself"),
                });
            }
            None => {}
        }
        let Some((name, definition)) = self.document.fragments.get_key_value(name) else {
            return Ok(Size::default());
        };
        self.fragments.insert(name, Known::InProgress);
        let size = self.selection_set(&definition.node.selection_set, level)?;
        self.fragments.insert(name, Known::Done(size));
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> Result<(), Refusal> {
        check_text(query)?;
        let document = async_graphql::parser::parse_query(query).expect("a valid document");
        check_document(&document)
    }

    /// Fragment F0 spreads F1 twice, F1 spreads F2 twice, …: 2^levels
    /// selections from a few hundred bytes.
    pub(crate) fn exponential(levels: usize) -> String {
        let mut query = String::from("query { ...F0 }\n");
        for i in 0..levels {
            query.push_str(&format!(
                "fragment F{i} on Query {{ a: __typename ...F{n} b: __typename ...F{n} }}\n",
                n = i + 1
            ));
        }
        query.push_str(&format!("fragment F{levels} on Query {{ __typename }}\n"));
        query
    }

    #[test]
    fn exponential_fragments_are_refused_at_once() {
        let started = std::time::Instant::now();
        let refusal = check(&exponential(20)).expect_err("refused");
        assert_eq!(refusal.code, Code::QueryTooComplex);
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        assert!(check(&exponential(4)).is_ok(), "small ones pass");
        let refusal = check(&exponential(200)).expect_err("refused");
        assert_eq!(refusal.code, Code::QueryTooDeep, "{refusal:?}");
    }

    #[test]
    fn the_introspection_query_passes() {
        check(include_str!("../../tests/data/introspection.graphql")).expect("accepted");
    }

    #[test]
    fn too_many_fields_or_variables_are_refused() {
        let wide: String = (0..1_200).map(|i| format!("a{i}: __typename ")).collect();
        assert_eq!(
            check(&format!("{{ {wide} }}")).map_err(|r| r.code),
            Err(Code::QueryTooComplex)
        );
        let vars: String = (0..101).map(|i| format!("$v{i}: Int ")).collect();
        assert_eq!(
            check(&format!("query({vars}) {{ __typename }}")).map_err(|r| r.code),
            Err(Code::QueryTooComplex)
        );
    }

    #[test]
    fn deep_text_is_refused_before_parsing_and_strings_do_not_count() {
        let deep = format!("{}{}", "{ a ".repeat(100_000), "}".repeat(100_000));
        assert_eq!(
            check_text(&deep).map_err(|r| r.code),
            Err(Code::QueryTooDeep)
        );
        let quoted = format!(
            "{{ a(s: \"{}\", t: \"\"\"{}\"\"\") # {}\n }}",
            "{".repeat(500),
            "[".repeat(500),
            "(".repeat(500)
        );
        assert!(check_text(&quoted).is_ok());
    }

    #[test]
    fn fragment_cycles_are_refused_even_unused_and_unknown_fragments_left_to_validation() {
        for cycle in [
            "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            "query { __typename } fragment A on Query { ...B } fragment B on Query { ...A }",
            "query { __typename } fragment A on Query { a: __typename ...A }",
        ] {
            assert_eq!(
                check(cycle).map_err(|r| r.code),
                Err(Code::GraphqlValidationFailed),
                "{cycle}"
            );
        }
        assert!(check("query { ...Missing }").is_ok());
    }
}
