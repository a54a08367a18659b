//! Property tests of the catalog loader: any text, and any TOML built from the
//! catalog's own vocabulary, gives a catalog or an error that names the file; never a
//! panic. Long run: `PROPTEST_CASES=100000 cargo test --lib fuzz`.

use std::path::Path;

use proptest::prelude::*;

use super::{Catalog, CatalogError};
use crate::protocol::fuzz_tests::config;

const FILE: &str = "/srv/switchboard/fuzz-catalog.toml";

const TOP_KEYS: &[&str] = &["tools", "instructions", "tool", "extra"];
const TOOL_KEYS: &[&str] = &[
    "name",
    "description",
    "input_schema",
    "output_schema",
    "namespace",
    "defer_loading",
    "handler",
    "inputSchema",
];
const HANDLER_KEYS: &[&str] = &[
    "command",
    "worker",
    "url",
    "static_text",
    "static_result",
    "timeout_ms",
    "env",
    "cwd",
    "headers",
    "success",
    "type",
    "properties",
    "required",
    "contentItems",
    "text",
];

fn scalar() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        "[a-zA-Z0-9_ ./:-]{0,12}".prop_map(toml::Value::String),
        prop::sample::select(vec![
            "object",
            "string",
            "integer",
            "lookup",
            "functions",
            "http://h/",
            "ftp://x",
            "sh",
            "inputText",
            "{\"type\":\"object\"}",
            "[1]",
            "",
        ])
        .prop_map(|s| toml::Value::String(s.to_string())),
        any::<i64>().prop_map(toml::Value::Integer),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(toml::Value::Float),
        any::<bool>().prop_map(toml::Value::Boolean),
    ]
}

/// A value that may be a table or array of the catalog's keys, nested a little.
fn value() -> impl Strategy<Value = toml::Value> {
    scalar().prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::vec((prop::sample::select(HANDLER_KEYS), inner), 0..5).prop_map(
                |pairs| {
                    toml::Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }
            ),
        ]
    })
}

fn tool() -> impl Strategy<Value = toml::Value> {
    prop::collection::vec((prop::sample::select(TOOL_KEYS), value()), 0..8).prop_map(|pairs| {
        toml::Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    })
}

fn catalog_table() -> impl Strategy<Value = toml::Table> {
    (
        prop::collection::vec(tool(), 0..4),
        prop::collection::vec((prop::sample::select(TOP_KEYS), value()), 0..3),
    )
        .prop_map(|(tools, others)| {
            let mut table: toml::Table = others
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            table.insert("tools".to_string(), toml::Value::Array(tools));
            table
        })
}

#[track_caller]
fn check_names_the_file(result: Result<Catalog, CatalogError>) -> Result<(), TestCaseError> {
    if let Err(error) = result {
        prop_assert!(error.to_string().contains(FILE), "{error}");
        if let CatalogError::Invalid { problems, .. } = &error {
            prop_assert!(!problems.is_empty());
            for problem in problems {
                prop_assert!(problem.starts_with(FILE), "{problem}");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_gives_a_catalog_or_an_error_naming_the_file(text in ".{0,300}") {
        check_names_the_file(Catalog::parse(&text, Path::new(FILE)))?;
    }

    #[test]
    fn toml_shaped_like_a_catalog_gives_a_catalog_or_an_error_naming_the_file(
        table in catalog_table()
    ) {
        let Ok(text) = toml::to_string(&table) else {
            return Ok(());
        };
        check_names_the_file(Catalog::parse(&text, Path::new(FILE)))?;
    }

    /// Whatever the catalog accepts, codex accepts: names it would refuse never pass.
    #[test]
    fn accepted_tools_have_names_codex_accepts(table in catalog_table()) {
        let Ok(text) = toml::to_string(&table) else {
            return Ok(());
        };
        if let Ok(catalog) = Catalog::parse(&text, Path::new(FILE)) {
            for tool in catalog.dynamic_tools() {
                prop_assert!(!tool.name.is_empty());
                prop_assert!(
                    tool.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                    "{}", tool.name
                );
                prop_assert!(tool.input_schema.is_object());
                prop_assert_ne!(tool.namespace.as_deref(), Some("functions"));
            }
        }
    }
}
