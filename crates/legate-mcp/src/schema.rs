//! The tools' JSON schemas as every host accepts them. schemars marks integers with formats of
//! its own (`uint32`, `uint64`, `int64`, `double`…) that JSON Schema does not define; OpenCode
//! and Gemini CLI warn about each one on every run. Every tool's schemas pass through
//! [`standard_formats`] once, when the router is built.

use rmcp::handler::server::router::tool::ToolRouter;
use serde_json::{Map, Value};

/// The formats JSON Schema 2020-12 defines (its "Vocabularies for Semantic Content With
/// format").
pub const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// `router` with every `format` JSON Schema does not define removed from each tool's input
/// and output schema (the type and the bounds schemars adds, such as `minimum: 0`, stay).
pub fn standard_formats<S>(mut router: ToolRouter<S>) -> ToolRouter<S> {
    for route in router.map.values_mut() {
        let tool = &mut route.attr;
        let mut input = (*tool.input_schema).clone();
        strip(&mut input);
        tool.input_schema = input.into();
        if let Some(output) = &tool.output_schema {
            let mut output = (**output).clone();
            strip(&mut output);
            tool.output_schema = Some(output.into());
        }
    }
    router
}

/// Removes non-standard `format`s from a schema object and everything under it.
fn strip(schema: &mut Map<String, Value>) {
    let unknown = schema
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| !STANDARD_FORMATS.contains(&f));
    if unknown {
        schema.remove("format");
    }
    for value in schema.values_mut() {
        strip_value(value);
    }
}

fn strip_value(value: &mut Value) {
    match value {
        Value::Object(o) => strip(o),
        Value::Array(items) => items.iter_mut().for_each(strip_value),
        _ => {}
    }
}

/// Every `format` in a schema, wherever it is (for checks of the schemas hosts get).
pub fn formats(schema: &Map<String, Value>) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(f) = o.get("format").and_then(Value::as_str) {
                    out.push(f.to_string());
                }
                o.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&Value::Object(schema.clone()), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LegateMcp;

    #[test]
    fn every_tool_schema_uses_only_formats_json_schema_defines() {
        let raw = LegateMcp::tool_router().list_all();
        let raw_formats: Vec<String> = raw.iter().flat_map(|t| formats(&t.input_schema)).collect();
        assert!(
            raw_formats
                .iter()
                .any(|f| !STANDARD_FORMATS.contains(&f.as_str())),
            "schemars adds formats of its own ({raw_formats:?}), which this check must catch"
        );
        let tools = standard_formats(LegateMcp::tool_router()).list_all();
        assert_eq!(tools.len(), raw.len());
        for t in &tools {
            let mut all = formats(&t.input_schema);
            if let Some(o) = &t.output_schema {
                all.extend(formats(o));
            }
            for f in all {
                assert!(
                    STANDARD_FORMATS.contains(&f.as_str()),
                    "tool {} has format {f:?}",
                    t.name
                );
            }
        }
        // What the formats said stays as bounds.
        let delegate = tools.iter().find(|t| t.name == "delegate").unwrap();
        let timeout = &delegate.input_schema["properties"]["timeout_secs"];
        assert_eq!(timeout["minimum"], 0, "{timeout}");
    }

    #[test]
    fn formats_are_stripped_at_any_depth_and_standard_ones_kept() {
        let mut s: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "type": "object",
            "format": "uint8",
            "properties": {
                "a": {"type": "integer", "format": "int64"},
                "b": {"anyOf": [{"type": "string", "format": "date-time"}, {"format": "double"}]},
                "format": {"type": "string", "format": "uri"}
            },
            "$defs": {"X": {"items": [{"format": "uint"}]}}
        }))
        .unwrap();
        strip(&mut s);
        let mut left = formats(&s);
        left.sort();
        assert_eq!(left, ["date-time", "uri"]);
        assert!(
            s["properties"]["format"].is_object(),
            "a property named format stays"
        );
    }
}
