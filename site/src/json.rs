//! The first step of reading a site: text to a JSON value tree, in the operator's words.
//!
//! serde_json's own errors speak of "EOF while parsing a value at line 1 column 0"; here a
//! syntax error is located by line and column and said plainly. A key written twice in one
//! object is reported with its path instead of silently keeping the last value, as a plain
//! `serde_json::Value` would (a copied address line whose interface name was not changed must
//! not hide the address it replaced).

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::display::{index, join};
use crate::Problem;

/// Where and why the text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    /// What is wrong, in words (no position; `line` and `column` say where).
    pub what: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not valid JSON at line {}, column {}: {}",
            self.line, self.column, self.what
        )
    }
}

/// Parses `text` as one JSON document. Keys written twice come back as problems next to the
/// value (the first occurrence is kept), so they are listed with everything else found.
pub(crate) fn parse(text: &str) -> Result<(Value, Vec<Problem>), SyntaxError> {
    let duplicates = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Node {
        path: String::new(),
        duplicates: &duplicates,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value))
    .map_err(|e| syntax_error(&e))?;
    Ok((value, duplicates.into_inner()))
}

fn syntax_error(error: &serde_json::Error) -> SyntaxError {
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let bare = full.strip_suffix(&position).unwrap_or(&full);
    let what = if error.is_eof() {
        "the text ends before the document does (an object, array or string is not closed)"
            .to_string()
    } else {
        match bare {
            "expected ident" => "expected true, false or null (text values need double quotes)",
            "expected value" => "expected a value: a number, \"text\", true, false, null, [ or {",
            "key must be a string" => "field names need double quotes",
            "trailing characters" => "more text after the end of the document",
            "trailing comma" => "a comma before a closing bracket or brace",
            "recursion limit exceeded" => "nested more than 128 levels deep",
            other => other,
        }
        .to_string()
    };
    SyntaxError {
        line: error.line(),
        column: error.column(),
        what,
    }
}

/// Builds the value at `path`, noting keys written twice.
struct Node<'a> {
    path: String,
    duplicates: &'a RefCell<Vec<Problem>>,
}

impl Node<'_> {
    fn child(&self, path: String) -> Node<'_> {
        Node {
            path,
            duplicates: self.duplicates,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(index(&self.path, items.len())))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join(&self.path, &key);
            let value = map.next_value_seed(self.child(path.clone()))?;
            if object.contains_key(&key) {
                self.duplicates.borrow_mut().push(Problem::new(
                    path,
                    "written twice in the same object; keep one",
                ));
            } else {
                object.insert(key, value);
            }
        }
        Ok(Value::Object(object))
    }
}
