//! Text as PostgreSQL takes it. A `text` or `jsonb` value cannot hold U+0000, and one NUL in a
//! unit's subject, body or file name would make the whole message's INSERT fail, so it would
//! never be recorded. Every string the store writes passes through [`storable`] first; the
//! original bytes stay untouched in the stored original.

use super::{NewFile, NewMessage};
use crate::problem::Problem;
use serde_json::Value;
use std::borrow::Cow;

/// `s` without the characters PostgreSQL refuses (NUL is the only one in a UTF-8 database).
pub(crate) fn storable(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', ""))
    } else {
        Cow::Borrowed(s)
    }
}

fn owned(s: &str) -> String {
    storable(s).into_owned()
}

fn opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(owned)
}

fn problems(ps: &[Problem]) -> Vec<Problem> {
    ps.iter()
        .map(|p| Problem {
            code: owned(&p.code),
            severity: p.severity,
            message: owned(&p.message),
        })
        .collect()
}

pub(crate) fn json(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(owned(s)),
        Value::Array(a) => Value::Array(a.iter().map(json).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (owned(k), json(v))).collect()),
        other => other.clone(),
    }
}

impl NewMessage {
    /// This message with every text value storable.
    pub(crate) fn storable(&self) -> NewMessage {
        NewMessage {
            raw_sha256: owned(&self.raw_sha256),
            dedupe_key: owned(&self.dedupe_key),
            message_id: opt(&self.message_id),
            thread: self.thread.iter().map(|t| owned(t)).collect(),
            from_addr: opt(&self.from_addr),
            from_name: opt(&self.from_name),
            sender_addr: opt(&self.sender_addr),
            reply_to: opt(&self.reply_to),
            subject: owned(&self.subject),
            date_header: self.date_header,
            received_at: self.received_at,
            size_bytes: self.size_bytes,
            source: owned(&self.source),
            disposition: self.disposition,
            unit_id: opt(&self.unit_id),
            match_rule: opt(&self.match_rule),
            problems: problems(&self.problems),
            body_excerpt: owned(&self.body_excerpt),
            learn_address: opt(&self.learn_address),
            files: self.files.iter().map(NewFile::storable).collect(),
            note: opt(&self.note),
        }
    }
}

impl NewFile {
    pub(crate) fn storable(&self) -> NewFile {
        NewFile {
            name: owned(&self.name),
            origin: self.origin.iter().map(|o| owned(o)).collect(),
            role: owned(&self.role),
            sha256: opt(&self.sha256),
            size_bytes: self.size_bytes,
            kind: owned(&self.kind),
            declared_type: opt(&self.declared_type),
            link_url: opt(&self.link_url),
            item: owned(&self.item),
            state: self.state,
            problems: problems(&self.problems),
            data: self.data.as_ref().map(json),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_removed_everywhere_else_kept() {
        assert_eq!(storable("统计\0表"), "统计表");
        assert!(matches!(storable("统计表"), Cow::Borrowed(_)));
        assert_eq!(
            json(&json!({"a\0": ["x\0y", 1, null, {"b": "\0"}]})),
            json!({"a": ["xy", 1, null, {"b": ""}]})
        );
    }
}
