//! Typed, path-tracking access to a parsed webhook body.
//!
//! Every accessor that fails returns a [`DecodeError`] naming the field by its
//! JSON pointer and saying what was expected, so a plugin author or platform team
//! sees `missing field /entry/0/changes/0/value/messages/0/from (string)` instead
//! of a panic or a bare "invalid JSON". Paths are built only when an error is
//! reported: a [`Node`] borrows its parent's path segments, so walking a valid
//! payload allocates nothing for them.
//!
//! Members without a canonical home become extras ([`Node::extras`],
//! [`Node::to_personal_extra`]…), each declaring whether it may identify a
//! person. The default is that it may: only members the translator names as
//! shareable cross to other apps, so a member an app adds later stays on it.

use crate::types::{DecodeError, ExtraField, FieldError, SyntaxError};
use serde_json::Value;
use std::fmt::Write;

/// Deepest nesting a webhook may have. Real webhooks nest about ten levels; the
/// limit keeps a hostile body from exhausting the stack (serde_json's own
/// recursion limit is 128 and reported the same way).
pub const MAX_DEPTH: u32 = 64;

/// Parses a webhook body after checking its size, encoding and nesting.
pub fn parse(body: &[u8], max_bytes: u64) -> Result<Value, DecodeError> {
    if body.len() as u64 > max_bytes {
        return Err(DecodeError::TooLarge(max_bytes));
    }
    let text = std::str::from_utf8(body)
        .map_err(|error| DecodeError::InvalidUtf8(error.valid_up_to() as u64))?;
    if nesting_depth(text) > MAX_DEPTH as usize {
        return Err(DecodeError::TooDeep(MAX_DEPTH));
    }
    serde_json::from_str(text).map_err(|error| {
        DecodeError::Syntax(SyntaxError {
            line: error.line() as u32,
            column: error.column() as u32,
            message: error.to_string(),
        })
    })
}

/// The deepest bracket nesting in `text`, ignoring brackets inside strings.
/// Checked before parsing so that depth is reported as depth, not as a syntax
/// error, whatever the parser's own limit.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Where a node sits in the document, as a chain of borrowed segments.
#[derive(Clone, Copy, Debug)]
pub enum Path<'p> {
    /// The document itself.
    Root,
    /// A member of an object.
    Key(&'p Path<'p>, &'p str),
    /// An element of an array.
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    /// The path as an RFC 6901 JSON pointer (`/entry/0/id`).
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        self.write_pointer(&mut out);
        out
    }

    fn write_pointer(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.write_pointer(out);
                out.push('/');
                // Extras name every unknown member by its pointer: escape
                // without allocating, character by character.
                for c in key.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
            Path::Index(parent, index) => {
                parent.write_pointer(out);
                let _ = write!(out, "/{index}");
            }
        }
    }
}

/// A value in the document together with where it is.
#[derive(Clone, Copy, Debug)]
pub struct Node<'v, 'p> {
    value: &'v Value,
    path: Path<'p>,
}

/// A short name for a JSON value's type, for error messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A field error at `path`.
pub fn field_error(path: &Path<'_>, expected: &str, found: Option<String>) -> FieldError {
    FieldError {
        path: path.pointer(),
        expected: expected.to_string(),
        found,
    }
}

impl<'v> Node<'v, 'static> {
    /// The whole document.
    pub fn root(value: &'v Value) -> Self {
        Node {
            value,
            path: Path::Root,
        }
    }
}

impl<'v, 'p> Node<'v, 'p> {
    /// The raw value.
    pub fn value(&self) -> &'v Value {
        self.value
    }

    /// Where the node is.
    pub fn path(&self) -> &Path<'p> {
        &self.path
    }

    /// The JSON pointer of the node.
    pub fn pointer(&self) -> String {
        self.path.pointer()
    }

    fn wrong_type(&self, expected: &str) -> DecodeError {
        DecodeError::WrongType(field_error(
            &self.path,
            expected,
            Some(type_name(self.value).to_string()),
        ))
    }

    /// An `invalid-value` error for this node.
    pub fn invalid(&self, expected: &str) -> DecodeError {
        let found = match self.value {
            Value::String(text) => text.chars().take(64).collect(),
            other => {
                let mut text = other.to_string();
                text.truncate(64);
                text
            }
        };
        DecodeError::InvalidValue(field_error(&self.path, expected, Some(found)))
    }

    /// A member that must be present (and not null).
    pub fn field<'s>(&'s self, key: &'s str) -> Result<Node<'v, 's>, DecodeError> {
        match self.get(key)? {
            Some(node) => Ok(node),
            None => {
                let path = Path::Key(&self.path, key);
                Err(DecodeError::MissingField(field_error(
                    &path, "a value", None,
                )))
            }
        }
    }

    /// A member that may be absent; `null` counts as absent. Fails when this node
    /// is not an object.
    pub fn get<'s>(&'s self, key: &'s str) -> Result<Option<Node<'v, 's>>, DecodeError> {
        let object = self
            .value
            .as_object()
            .ok_or_else(|| self.wrong_type("object"))?;
        Ok(object
            .get(key)
            .filter(|value| !value.is_null())
            .map(|value| Node {
                value,
                path: Path::Key(&self.path, key),
            }))
    }

    /// Whether the object has a non-null member `key`.
    pub fn has(&self, key: &str) -> bool {
        self.value.get(key).is_some_and(|value| !value.is_null())
    }

    /// The node as a string.
    pub fn as_str(&self) -> Result<&'v str, DecodeError> {
        self.value.as_str().ok_or_else(|| self.wrong_type("string"))
    }

    /// A required string member.
    pub fn str<'s>(&'s self, key: &'s str) -> Result<&'v str, DecodeError> {
        self.field(key)?.as_str()
    }

    /// An optional string member.
    pub fn opt_str<'s>(&'s self, key: &'s str) -> Result<Option<&'v str>, DecodeError> {
        self.get(key)?.map(|node| node.as_str()).transpose()
    }

    /// An optional string member, owned.
    pub fn opt_string(&self, key: &str) -> Result<Option<String>, DecodeError> {
        Ok(self.opt_str(key)?.map(str::to_string))
    }

    /// The node as an unsigned integer; a string of digits is accepted too,
    /// because Meta sends timestamps and sizes as either.
    pub fn as_u64(&self) -> Result<u64, DecodeError> {
        match self.value {
            Value::Number(number) => number
                .as_u64()
                .ok_or_else(|| self.invalid("a non-negative integer")),
            Value::String(text) => text
                .parse()
                .map_err(|_| self.invalid("a non-negative integer")),
            _ => Err(self.wrong_type("integer")),
        }
    }

    /// An optional unsigned integer member.
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, DecodeError> {
        self.get(key)?.map(|node| node.as_u64()).transpose()
    }

    /// The node as a signed integer (Telegram's group chat ids are negative);
    /// a string of digits with an optional `-` is accepted too, like
    /// [`Node::as_u64`].
    pub fn as_i64(&self) -> Result<i64, DecodeError> {
        match self.value {
            Value::Number(number) => number.as_i64().ok_or_else(|| self.invalid("an integer")),
            Value::String(text) => text.parse().map_err(|_| self.invalid("an integer")),
            _ => Err(self.wrong_type("integer")),
        }
    }

    /// An optional signed integer member.
    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, DecodeError> {
        self.get(key)?.map(|node| node.as_i64()).transpose()
    }

    /// The node as a number.
    pub fn as_f64(&self) -> Result<f64, DecodeError> {
        match self.value {
            Value::Number(number) => number.as_f64().ok_or_else(|| self.invalid("a number")),
            Value::String(text) => text.parse().map_err(|_| self.invalid("a number")),
            _ => Err(self.wrong_type("number")),
        }
    }

    /// The node as a boolean.
    pub fn as_bool(&self) -> Result<bool, DecodeError> {
        self.value
            .as_bool()
            .ok_or_else(|| self.wrong_type("boolean"))
    }

    /// An optional boolean member.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, DecodeError> {
        self.get(key)?.map(|node| node.as_bool()).transpose()
    }

    /// The elements of an array node.
    pub fn items(&self) -> Result<impl Iterator<Item = Node<'v, '_>>, DecodeError> {
        let array = self
            .value
            .as_array()
            .ok_or_else(|| self.wrong_type("array"))?;
        Ok(array.iter().enumerate().map(|(index, value)| Node {
            value,
            path: Path::Index(&self.path, index),
        }))
    }

    /// The whole node kept as one extra, under its pointer, declared
    /// personal: it is or may be anything that identifies a person (a user
    /// or chat object, a name, a phone number, a profile, a contact card…,
    /// or an object the translator does not decode, which might hold one).
    /// It never leaves its app. The safe choice whenever in doubt.
    pub fn to_personal_extra(self) -> ExtraField {
        self.extra(true)
    }

    /// The whole node kept as one extra, under its pointer, declared
    /// shareable: the translator knows it identifies no one at any depth (a
    /// formatting flag, a media dimension, a sticker id…), so it may cross
    /// to another app with the message.
    pub fn to_shared_extra(self) -> ExtraField {
        self.extra(false)
    }

    /// The members of an object that are not in `known`, kept as extras so
    /// that nothing the platform sent is silently lost. Each is personal
    /// unless `shared` names it: a member the translator has not declared
    /// harmless (one the app added later, say) stays on its app.
    pub fn extras(&self, known: &[&str], shared: &[&str]) -> Vec<ExtraField> {
        let Some(object) = self.value.as_object() else {
            return Vec::new();
        };
        object
            .iter()
            .filter(|(key, _)| !known.contains(&key.as_str()))
            .map(|(key, value)| {
                Node {
                    value,
                    path: Path::Key(&self.path, key),
                }
                .extra(!shared.contains(&key.as_str()))
            })
            .collect()
    }

    /// The members of an object that are not in `known`, all kept as
    /// personal extras: for objects that describe a person or an account
    /// (a profile, a sender, a contact), whatever else they hold.
    pub fn personal_extras(&self, known: &[&str]) -> Vec<ExtraField> {
        self.extras(known, &[])
    }

    fn extra(self, personal: bool) -> ExtraField {
        ExtraField {
            path: self.pointer(),
            json: self.value.to_string(),
            personal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails_with(body: &[u8]) -> DecodeError {
        match parse(body, 1 << 20) {
            Err(error) => error,
            Ok(value) => unreachable!("parsed {value}"),
        }
    }

    #[test]
    fn reports_size_utf8_syntax_and_depth() {
        assert_eq!(parse(b"{}", 1), Err(DecodeError::TooLarge(1)));
        assert_eq!(fails_with(b"{\"a\":\"\xff\"}"), DecodeError::InvalidUtf8(6));
        match fails_with(b"{\"a\": [1,\n 2") {
            DecodeError::Syntax(error) => assert_eq!(error.line, 2),
            other => unreachable!("{other:?}"),
        }
        let deep = "[".repeat(10_000);
        assert_eq!(fails_with(deep.as_bytes()), DecodeError::TooDeep(MAX_DEPTH));
        // Brackets inside strings do not count.
        let quoted = format!("{{\"a\":\"{}\"}}", "[".repeat(1000));
        assert_eq!(
            parse(quoted.as_bytes(), 1 << 20),
            Ok(serde_json::json!({"a": "[".repeat(1000)}))
        );
    }

    #[test]
    fn names_the_offending_field() -> Result<(), DecodeError> {
        let value = parse(br#"{"entry":[{"id":7,"time":"12"}]}"#, 1 << 20)?;
        let root = Node::root(&value);
        let entries = root.field("entry")?;
        let entry = entries.items()?.next().ok_or(DecodeError::TooDeep(0))?;
        assert_eq!(entry.field("time")?.as_u64()?, 12);
        let DecodeError::WrongType(error) = entry.str("id").unwrap_err() else {
            unreachable!()
        };
        assert_eq!(error.path, "/entry/0/id");
        assert_eq!(error.expected, "string");
        assert_eq!(error.found.as_deref(), Some("number"));
        let DecodeError::MissingField(error) = entry.str("changes").unwrap_err() else {
            unreachable!()
        };
        assert_eq!(error.path, "/entry/0/changes");
        let extras = entry.extras(&["id"], &[]);
        assert_eq!(extras.len(), 1);
        assert_eq!(extras[0].path, "/entry/0/time");
        assert_eq!(extras[0].json, "\"12\"");
        assert!(extras[0].personal, "undeclared members are personal");
        Ok(())
    }

    #[test]
    fn extras_are_personal_unless_declared_shared() -> Result<(), DecodeError> {
        let value = parse(
            br#"{"text":"hi","from":{"id":7,"first_name":"Ann"},"has_media_spoiler":true,"new_thing":1}"#,
            1 << 20,
        )?;
        let root = Node::root(&value);
        let extras = root.extras(&["text"], &["has_media_spoiler"]);
        let declared: Vec<(&str, bool)> = extras
            .iter()
            .map(|extra| (extra.path.as_str(), extra.personal))
            .collect();
        assert_eq!(
            declared,
            vec![
                ("/from", true),
                ("/has_media_spoiler", false),
                ("/new_thing", true),
            ]
        );
        assert!(
            root.personal_extras(&["text"])
                .iter()
                .all(|extra| extra.personal)
        );
        assert!(root.field("from")?.to_personal_extra().personal);
        let flag = root.field("has_media_spoiler")?.to_shared_extra();
        assert!(!flag.personal);
        assert_eq!(flag.json, "true");
        Ok(())
    }

    #[test]
    fn reads_signed_integers_from_numbers_and_strings() -> Result<(), DecodeError> {
        let value = parse(
            br#"{"chat":-1001234567890,"text":"-42","big":18446744073709551615,"f":1.5}"#,
            1 << 20,
        )?;
        let root = Node::root(&value);
        assert_eq!(root.field("chat")?.as_i64()?, -1_001_234_567_890);
        assert_eq!(root.opt_i64("text")?, Some(-42));
        assert_eq!(root.opt_i64("absent")?, None);
        // Unsigned readers refuse what is negative; signed ones what overflows.
        assert!(matches!(
            root.field("chat")?.as_u64(),
            Err(DecodeError::InvalidValue(_))
        ));
        let DecodeError::InvalidValue(error) = root.field("big")?.as_i64().unwrap_err() else {
            unreachable!()
        };
        assert_eq!(error.path, "/big");
        assert!(matches!(
            root.field("f")?.as_i64(),
            Err(DecodeError::InvalidValue(_))
        ));
        Ok(())
    }

    #[test]
    fn escapes_pointers_and_keeps_whole_nodes() -> Result<(), DecodeError> {
        let value = parse(br#"{"a/b~c":[{"x":1}]}"#, 1 << 20)?;
        let root = Node::root(&value);
        let odd = root.field("a/b~c")?;
        let item = odd.items()?.next().ok_or(DecodeError::TooDeep(0))?;
        assert_eq!(item.pointer(), "/a~1b~0c/0");
        let extra = item.to_personal_extra();
        assert_eq!(extra.path, "/a~1b~0c/0");
        assert_eq!(extra.json, r#"{"x":1}"#);
        Ok(())
    }
}
