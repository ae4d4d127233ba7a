//! What a GraphQL request may cost, decided before anything recurses or executes.
//!
//! 1. **The text** ([`check_text`]): its size and the nesting of its brackets are checked on the
//!    raw characters, before the parser (which recurses on nested values) sees them.
//! 2. **The cost** ([`cost`]): computed on the parsed document in time linear in it (each
//!    fragment's cost is computed once and reused, so fragments that spread each other twice
//!    cost a multiplication, not an expansion). Every field costs at least 1; a paged field
//!    multiplies its children by `first` (at least 1, so `first: 0` is not free); an expensive
//!    field adds its fixed price whatever `first` says; aliases are separate fields and add up.
//!
//! [`Bounds`] runs both for every operation, over HTTP and WebSocket alike, ahead of
//! async-graphql's own parse and validation; it is the one place a query is refused before
//! execution (`GRAPHQL_PARSE_FAILED` included).

use std::{collections::HashMap, sync::Arc};

use async_graphql::{
    Request, ServerError, ServerResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest},
    parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet},
};

use async_graphql_value::Value;

use super::{DEFAULT_PAGE, MAX_PAGE};
use crate::codes::ApiCode;

/// Largest query text.
pub(crate) const MAX_QUERY_BYTES: usize = 64 * 1024;
/// Deepest nesting of `{`, `[` and `(` in a query's text.
pub(crate) const MAX_NESTING: usize = 64;
/// Costliest operation accepted.
pub(crate) const MAX_COST: u64 = 5_000;

/// The fixed price of a field beyond its unit, by name: a conditional-focus solve, a search, a
/// store scan or proof. Names are unique to their work across the schema.
fn price(field: &str) -> u64 {
    match field {
        "related" => 500,
        // The whole schema, however it is asked for.
        "__schema" | "__type" => 100,
        // Up to `max_content_bytes` (256 KiB) of text each.
        "search" | "content" => 50,
        "cyberlinks" | "outLinks" | "inLinks" | "links" | "transactions" | "inclusionProof" | "focusProof"
        | "focusAt" | "certificate" => 20,
        "top" | "firstSeen" => 2,
        _ => 0,
    }
}

/// Whether a field's children repeat `first` times.
fn paged(field: &str) -> bool {
    matches!(field, "related" | "search" | "top" | "cyberlinks" | "outLinks" | "inLinks" | "links")
}

/// A refusal with its code.
pub(crate) struct Refusal {
    pub(crate) code: ApiCode,
    pub(crate) message: String,
}

impl From<Refusal> for ServerError {
    fn from(refusal: Refusal) -> Self {
        let mut error = ServerError::new(refusal.message, None);
        error.extensions.get_or_insert_with(Default::default).set("code", refusal.code.as_str());
        error
    }
}

/// The text's size and bracket nesting (outside strings and comments).
pub(crate) fn check_text(query: &str) -> Result<(), Refusal> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(Refusal {
            code: engine::ErrorCode::TooLarge.into(),
            message: format!("the query is {} bytes, over the limit of {MAX_QUERY_BYTES}", query.len()),
        });
    }
    let deepest = bracket_depth(query.as_bytes());
    if deepest > MAX_NESTING {
        return Err(Refusal {
            code: ApiCode::QueryTooDeep,
            message: format!("the query nests brackets {deepest} deep, over the limit of {MAX_NESTING}"),
        });
    }
    Ok(())
}

/// The deepest nesting of `{`, `[` and `(` outside comments, strings (`"…"` with escapes) and
/// block strings (`"""…"""`, where `\"""` is an escaped quote triple), as GraphQL lexes them.
fn bracket_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < text.len() {
        let rest = &text[i..];
        if rest.starts_with(b"\"\"\"") {
            i += 3;
            while i < text.len() && !text[i..].starts_with(b"\"\"\"") {
                i += if text[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
            }
            i += 3;
            continue;
        }
        match rest[0] {
            b'#' => {
                while i < text.len() && !matches!(text[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < text.len() && !matches!(text[i], b'"' | b'\n' | b'\r') {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// How a document overruns its bounds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Overrun {
    /// Costlier than [`MAX_COST`].
    Cost,
    /// Selections (through fragments too) nested deeper than [`MAX_NESTING`], or a fragment
    /// cycle (which validation refuses anyway).
    Depth,
}

/// The cost of the costliest operation of `document`, given its variables.
pub(crate) fn cost(document: &ExecutableDocument, variables: &Variables) -> Result<u64, Overrun> {
    let mut highest = 0;
    for (_, operation) in document.operations.iter() {
        // Fragments are priced per operation: `first: $n` may default differently in each.
        let defaults = operation
            .node
            .variable_definitions
            .iter()
            .filter_map(|v| Some((v.node.name.node.as_str(), v.node.default_value.as_ref()?.node.clone())))
            .collect();
        let mut costs = Costs { document, variables, defaults, fragments: HashMap::new() };
        highest = highest.max(costs.selection_set(&operation.node.selection_set.node, 0)?);
    }
    Ok(highest)
}

struct Costs<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    /// The operation's variables' declared defaults.
    defaults: HashMap<&'a str, async_graphql::Value>,
    /// Each fragment's cost once known; `None` while being computed (a cycle).
    fragments: HashMap<&'a str, Option<u64>>,
}

impl<'a> Costs<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<u64, Overrun> {
        if depth > MAX_NESTING {
            return Err(Overrun::Depth);
        }
        let mut total = 0u64;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    let children = self.selection_set(&field.selection_set.node, depth + 1)?;
                    let repeat = if paged(name) { self.first(field.get_argument("first").map(|v| &v.node)) } else { 1 };
                    repeat.saturating_mul(children).saturating_add(1 + price(name))
                }
                Selection::FragmentSpread(spread) => self.fragment(spread.node.fragment_name.node.as_str(), depth)?,
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node, depth + 1)?
                }
            };
            total = total.saturating_add(cost);
            if total > MAX_COST {
                return Err(Overrun::Cost);
            }
        }
        Ok(total)
    }

    /// A fragment's cost, computed once: a document's fragments cost time linear in it however
    /// often they spread each other.
    fn fragment(&mut self, name: &'a str, depth: usize) -> Result<u64, Overrun> {
        match self.fragments.get(name) {
            Some(Some(known)) => return Ok(*known),
            Some(None) => return Err(Overrun::Depth),
            None => {
                self.fragments.insert(name, None);
            }
        }
        // An unknown fragment costs nothing here; validation refuses it.
        let definition: Option<&'a FragmentDefinition> = self.document.fragments.get(name).map(|f| &f.node);
        let cost = match definition {
            Some(definition) => self.selection_set(&definition.selection_set.node, depth + 1)?,
            None => 0,
        };
        self.fragments.insert(name, Some(cost));
        Ok(cost)
    }

    /// A paged field's `first`: its literal, its variable's value or declared default,
    /// clamped to `1..=MAX_PAGE`; `MAX_PAGE` when it cannot be known here (validation refuses
    /// what is not an integer).
    fn first(&self, argument: Option<&Value>) -> u64 {
        let value = match argument {
            None => return DEFAULT_PAGE as u64,
            Some(Value::Variable(name)) => {
                match self.variables.get(name).or_else(|| self.defaults.get(name.as_str())) {
                    Some(value) => value.clone().into_value(),
                    None => return DEFAULT_PAGE as u64,
                }
            }
            Some(value) => value.clone(),
        };
        match value {
            Value::Number(n) => n.as_i64().map_or(MAX_PAGE as u64, |n| n.clamp(1, MAX_PAGE as i64) as u64),
            Value::Null => DEFAULT_PAGE as u64,
            _ => MAX_PAGE as u64,
        }
    }
}

/// The extension that applies both bounds to every operation.
pub(crate) struct Bounds;

impl ExtensionFactory for Bounds {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Bounds)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Bounds {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        check_text(&request.query)?;
        // Priced on the parsed document before async-graphql's own checks, which walk fragment
        // spreads expanded (exponential in a document of fragments that spread the previous one
        // twice); the document is then handed on, so the text is parsed once.
        let document = async_graphql::parser::parse_query(&request.query)
            .map_err(|e| Refusal { code: ApiCode::ParseFailed, message: e.to_string() })?;
        match cost(&document, &request.variables) {
            Ok(_) => {
                request.set_parsed_query(document);
                next.run(ctx, request).await
            }
            Err(Overrun::Cost) => {
                let message = format!(
                    "the query is too complex: it costs more than {MAX_COST} (each field 1, lists × first, related 500, search 50, scans and proofs 20)"
                );
                Err(Refusal { code: ApiCode::QueryTooComplex, message }.into())
            }
            Err(Overrun::Depth) => {
                let message = format!("the query nests selections or fragments deeper than {MAX_NESTING}");
                Err(Refusal { code: ApiCode::QueryTooDeep, message }.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost_of(query: &str) -> Option<u64> {
        cost(&async_graphql::parser::parse_query(query).unwrap(), &Variables::default()).ok()
    }

    #[test]
    fn every_field_costs_something_and_aliases_add_up() {
        assert_eq!(cost_of("{ nodeInfo { height } }"), Some(2));
        assert_eq!(cost_of("{ top(first: 0) { edges { node { score } } } }"), Some(1 + 2 + 3));
        assert_eq!(cost_of("{ top(first: 10) { edges { node { score } } } }"), Some(1 + 2 + 30));
        let one = cost_of(r#"{ related(context: ["x"], first: 0) { height } }"#).unwrap();
        assert_eq!(one, 1 + 500 + 1);
        let aliases: String =
            (0..20).map(|i| format!(r#"a{i}: related(context: ["x"], first: 0) {{ height }} "#)).collect();
        assert_eq!(cost_of(&format!("{{ {aliases} }}")), None, "20 aliased solves are over the budget");
    }

    #[test]
    fn a_variable_s_declared_default_is_what_it_costs() {
        let nested = "query($n: Int = 100) { top(first: $n) { nodes { particle { outLinks(first: $n) { nodes { from { cid } } } } } } }";
        assert_eq!(cost_of(nested), None, "priced at 100 × 100, not at the default page");
        assert!(cost_of("query($n: Int = 1) { top(first: $n) { nodes { score } } }").unwrap() < 10);
    }

    #[test]
    fn fragments_that_double_cost_a_multiplication_not_an_expansion() {
        let mut query = String::from("query { ...F40 }\nfragment F0 on QueryRoot { nodeInfo { height } }\n");
        for level in 1..=40 {
            query += &format!("fragment F{level} on QueryRoot {{ ...F{p} ...F{p} }}\n", p = level - 1);
        }
        let start = std::time::Instant::now();
        assert_eq!(cost_of(&query), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(1), "linear in the document");
        let cycle = "query { ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A }";
        let document = async_graphql::parser::parse_query(cycle).unwrap();
        assert_eq!(cost(&document, &Variables::default()), Err(Overrun::Depth));
    }

    /// Documents made of GraphQL's own tokens, nested and spread at random: whatever the bounds
    /// let through parses and prices without exhausting the stack (which would abort this test).
    /// `FUZZ_CASES` sets the cases (default 2,000).
    fn documents() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let token = prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            "(",
            ")",
            "a",
            "b: ",
            "...F",
            "... on QueryRoot ",
            "fragment F on QueryRoot ",
            "query ",
            "$x",
            "\"s\"",
            "\"\"\"",
            "#c\n",
            "1",
            ",",
            "@skip(if: true) ",
            "top(first: 0) ",
        ]);
        prop::collection::vec(token, 0..3_000).prop_map(|tokens| tokens.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000),
            ..Default::default()
        })]

        #[test]
        fn any_document_the_bounds_let_through_parses_and_prices_safely(document in documents()) {
            if check_text(&document).is_ok()
                && let Ok(parsed) = async_graphql::parser::parse_query(&document)
            {
                let _ = cost(&parsed, &Variables::default());
            }
        }
    }

    #[test]
    fn nesting_is_counted_outside_strings_and_comments() {
        assert!(check_text(&format!("{{ a(x: {}1{}) }}", "[".repeat(70), "]".repeat(70))).is_err());
        assert!(check_text(&format!("{{ search(text: \"{}\") {{ edges {{ cursor }} }} }}", "(".repeat(500))).is_ok());
        assert!(check_text(&format!("# {}\n{{ a }}", "{".repeat(500))).is_ok());
        assert!(check_text(&format!("{{ a(t: \"\"\"{}\"\"\") }}", "[".repeat(500))).is_ok());
        // An escaped quote triple inside a block string does not end it early (and so cannot
        // hide what follows the real end).
        let hidden = format!(
            "{{ a(t: \"\"\"\\\"\"\" \"\"\", x: {}1{}, u: \"\"\" \"\"\") {{ b }} }}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(check_text(&hidden).is_err(), "{hidden}");
        assert!(
            check_text(&format!("{{ a(t: \"\\\"{}\") }}", "[".repeat(100))).is_ok(),
            "an escaped quote stays inside its string"
        );
        assert!(check_text(&"a".repeat(MAX_QUERY_BYTES + 1)).is_err());
    }
}
