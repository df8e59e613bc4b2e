//! Checks answers against `api/openapi.yaml`, with a checker for the
//! JSON-Schema subset that file uses: `type`, `required`, `properties`,
//! `additionalProperties`, `items`, `enum`, `minimum`, `maximum`, and
//! `$ref` into the document. (`pattern` is documentation only here: a
//! regex engine is not worth a dependency for it.)
//!
//! The file is YAML written in its JSON-compatible flow style, so after its
//! `#` comment lines are dropped serde_json reads it: no YAML crate.

use serde_json::Value;

use super::http::HttpResponse;
use super::runtime::repo_root;

pub struct OpenApi {
    doc: Value,
}

impl OpenApi {
    pub fn load() -> OpenApi {
        let path = repo_root().join("api/openapi.yaml");
        let text = std::fs::read_to_string(&path).expect("read api/openapi.yaml");
        let json: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let doc: Value =
            serde_json::from_str(&json).expect("api/openapi.yaml is YAML in JSON-compatible style");
        assert_eq!(doc["openapi"], "3.1.0");
        OpenApi { doc }
    }

    /// The documented response of `method` on `template` with `status`,
    /// `$ref`s resolved. Panics if the document does not list it.
    pub fn response(&self, template: &str, method: &str, status: u16) -> &Value {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {template} is not documented");
        let resp = &op["responses"][status.to_string()];
        assert!(
            resp.is_object(),
            "{method} {template} does not document {status}"
        );
        self.resolve(resp)
    }

    /// A shared response by name (`NotFound`, `MethodNotAllowed`): for
    /// answers to paths or methods no operation lists.
    pub fn component(&self, name: &str) -> &Value {
        let resp = &self.doc["components"]["responses"][name];
        assert!(resp.is_object(), "no response component {name}");
        resp
    }

    /// Panics unless `resp` matches the documented response of `method`
    /// on `template` with its status.
    pub fn check(&self, template: &str, method: &str, resp: &HttpResponse) {
        let documented = self.response(template, method, resp.status);
        if let Err(why) = self.matches(documented, resp) {
            panic!(
                "{method} {template} answered {}: {why}\n{}",
                resp.status, resp.body
            );
        }
    }

    /// Whether `resp` has the documented headers, content type and body.
    pub fn matches(&self, documented: &Value, resp: &HttpResponse) -> Result<(), String> {
        let documented = self.resolve(documented);
        if let Some(headers) = documented["headers"].as_object() {
            for (name, h) in headers {
                if h["required"] == true && resp.header(name).is_none() {
                    return Err(format!("header {name} is missing"));
                }
            }
        }
        match documented["content"]["application/json"]["schema"] {
            Value::Null => match resp.body.is_empty() {
                true => Ok(()),
                false => Err("a body where none is documented".into()),
            },
            ref schema => {
                if resp.header("content-type") != Some("application/json") {
                    return Err(format!("content type {:?}", resp.header("content-type")));
                }
                let body: Value = serde_json::from_str(&resp.body)
                    .map_err(|e| format!("body is not JSON: {e}"))?;
                self.validate(schema, &body)
            }
        }
    }

    /// Whether `value` matches `schema`; the first mismatch, by JSON path.
    pub fn validate(&self, schema: &Value, value: &Value) -> Result<(), String> {
        let mut errors = Vec::new();
        self.walk(schema, value, "$", &mut errors);
        match errors.first() {
            None => Ok(()),
            Some(first) => Err(first.clone()),
        }
    }

    /// A component schema by name.
    pub fn schema(&self, name: &str) -> &Value {
        &self.doc["components"]["schemas"][name]
    }

    fn resolve<'a>(&'a self, node: &'a Value) -> &'a Value {
        match node["$ref"].as_str() {
            Some(reference) => {
                let pointer = reference
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("only local $refs: {reference}"));
                let target = self
                    .doc
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {reference}"));
                self.resolve(target)
            }
            None => node,
        }
    }

    fn walk(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(kind) = schema["type"].as_str() {
            let ok = match kind {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_u64() || value.is_i64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                other => panic!("the checker does not know type {other}"),
            };
            if !ok {
                errors.push(format!("{at}: expected {kind}, got {value}"));
                return;
            }
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                errors.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64()) {
            if n < min {
                errors.push(format!("{at}: {n} is below {min}"));
            }
        }
        if let (Some(max), Some(n)) = (schema["maximum"].as_f64(), value.as_f64()) {
            if n > max {
                errors.push(format!("{at}: {n} is above {max}"));
            }
        }
        if let Some(items) = schema.get("items") {
            for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                self.walk(items, item, &format!("{at}[{i}]"), errors);
            }
        }
        let Some(object) = value.as_object() else {
            return;
        };
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{at}: required {name:?} is missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(property) => self.walk(property, v, &format!("{at}.{key}"), errors),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => errors.push(format!("{at}: unexpected {key:?}")),
                    extra @ Value::Object(_) => self.walk(extra, v, &format!("{at}.{key}"), errors),
                    _ => {}
                },
            }
        }
    }
}
