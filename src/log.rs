//! Structured log lines: one JSON object per event, so `wrangler tail` and
//! log pipelines can filter by field. Lines carry room and client ids but
//! never message bodies, which are the users' business.

use serde_json::{json, Map, Value};

/// One log line. `fields` adds event-specific detail.
pub fn line(
    level: &str,
    event: &str,
    room: &str,
    client_id: &str,
    fields: &[(&str, Value)],
) -> String {
    let mut obj = Map::new();
    obj.insert("level".into(), json!(level));
    obj.insert("event".into(), json!(event));
    if !room.is_empty() {
        obj.insert("room".into(), json!(room));
    }
    if !client_id.is_empty() {
        obj.insert("clientId".into(), json!(client_id));
    }
    for (k, v) in fields {
        obj.insert((*k).into(), v.clone());
    }
    Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_with_the_ids() {
        let l = line(
            "warn",
            "refused",
            "lobby",
            "alice",
            &[("code", json!("rate_limited"))],
        );
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["event"], "refused");
        assert_eq!(v["room"], "lobby");
        assert_eq!(v["clientId"], "alice");
        assert_eq!(v["code"], "rate_limited");
        assert!(!l.contains('\n'));
    }

    #[test]
    fn empty_ids_are_left_out() {
        let v: Value = serde_json::from_str(&line("info", "x", "", "", &[])).unwrap();
        assert!(v.get("room").is_none() && v.get("clientId").is_none());
    }
}
