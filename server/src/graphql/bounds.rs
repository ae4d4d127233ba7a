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
//! async-graphql's own validation.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{
    ServerError, ServerResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery},
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
        "search" => 50,
        "cyberlinks" | "outLinks" | "inLinks" | "links" | "transactions" | "inclusionProof" | "focusProof" => 20,
        "top" | "firstSeen" | "focusAt" | "content" => 2,
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
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                chars.by_ref().find(|&c| c == '\n' || c == '\r');
            }
            '"' => skip_string(&mut chars),
            '{' | '[' | '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_NESTING {
        return Err(Refusal {
            code: ApiCode::QueryTooDeep,
            message: format!("the query nests brackets {deepest} deep, over the limit of {MAX_NESTING}"),
        });
    }
    Ok(())
}

/// Skips a string whose opening quote was just read: `"…"` with escapes, or `"""…"""`.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    if chars.peek() == Some(&'"') {
        chars.next();
        if chars.peek() != Some(&'"') {
            return; // `""`: the empty string.
        }
        chars.next();
        let mut quotes = 0;
        for c in chars.by_ref() {
            quotes = if c == '"' { quotes + 1 } else { 0 };
            if quotes == 3 {
                return;
            }
        }
        return;
    }
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' | '\n' => return,
            _ => {}
        }
    }
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
    let mut costs = Costs { document, variables, fragments: HashMap::new() };
    let mut highest = 0;
    for (_, operation) in document.operations.iter() {
        highest = highest.max(costs.selection_set(&operation.node.selection_set.node, 0)?);
    }
    Ok(highest)
}

struct Costs<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
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

    /// A paged field's `first`: its literal or variable value, clamped to `1..=MAX_PAGE`.
    fn first(&self, argument: Option<&Value>) -> u64 {
        let value = match argument {
            None => return DEFAULT_PAGE as u64,
            Some(Value::Variable(name)) => match self.variables.get(name) {
                Some(value) => value.clone().into_value(),
                None => return DEFAULT_PAGE as u64,
            },
            Some(value) => value.clone(),
        };
        match value {
            Value::Number(n) => n.as_i64().map_or(MAX_PAGE as u64, |n| n.clamp(1, MAX_PAGE as i64) as u64),
            _ => DEFAULT_PAGE as u64,
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
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        check_text(query)?;
        // Priced on a parse of our own before async-graphql's parse, whose checks walk
        // fragment spreads expanded (exponential in a document of fragments that spread the
        // previous one twice). A document that does not parse goes on to fail there.
        if let Ok(document) = async_graphql::parser::parse_query(query) {
            match cost(&document, variables) {
                Ok(_) => {}
                Err(Overrun::Cost) => {
                    let message = format!(
                        "the query is too complex: it costs more than {MAX_COST} (each field 1, lists × first, related 500, search 50, scans and proofs 20)"
                    );
                    return Err(Refusal { code: ApiCode::QueryTooComplex, message }.into());
                }
                Err(Overrun::Depth) => {
                    let message = format!("the query nests selections or fragments deeper than {MAX_NESTING}");
                    return Err(Refusal { code: ApiCode::QueryTooDeep, message }.into());
                }
            }
        }
        next.run(ctx, query, variables).await
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
        assert!(check_text(&"a".repeat(MAX_QUERY_BYTES + 1)).is_err());
    }
}
