//! The Ditto serialisation of labelled candidate pairs (`COL attr VAL value ...` for each side,
//! tab-separated, then the label), as in the ER-Magellan / DeepMatcher benchmarks: reading it into
//! entities and writing it from them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::record::{field, Entity};
use crate::text::fnv1a;
use crate::{ResolveError, Result};

/// One labelled pair.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledPair {
    pub left: Entity,
    pub right: Entity,
    pub label: bool,
}

/// The record field a benchmark attribute maps to (`name` and `title` are the title,
/// `manufacturer` the brand, `modelno` the model number; others keep their name).
pub fn field_for(attribute: &str) -> &str {
    match attribute {
        "name" | "title" => field::TITLE,
        "manufacturer" | "brand" => field::BRAND,
        "modelno" => field::MODEL,
        other => other,
    }
}

/// Parses one serialised entry into attribute → value (values may be empty).
pub fn parse_entry(entry: &str) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    for chunk in entry.split("COL ").map(str::trim).filter(|c| !c.is_empty()) {
        let (name, value) = match chunk.split_once(" VAL") {
            Some((name, value)) => (name.trim(), value.trim()),
            None => (chunk.trim_end_matches("VAL").trim(), ""),
        };
        attributes.insert(name.to_string(), value.to_string());
    }
    attributes
}

fn entity(source: &str, entry: &str) -> Entity {
    let mut entity = Entity::new(source, format!("{:016x}", fnv1a(entry.trim().as_bytes())), 0);
    for (name, value) in parse_entry(entry) {
        entity.set(field_for(&name), value);
    }
    entity
}

/// Parses a file's text; `left` and `right` name the two sources.
///
/// # Errors
/// [`ResolveError::Parse`] naming the line that lacks three tab-separated parts or a 0/1 label.
pub fn parse(text: &str, left: &str, right: &str) -> Result<Vec<LabelledPair>> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split('\t').collect();
        if parts.len() != 3 {
            return Err(ResolveError::Parse { line: index + 1, message: format!("{} tab-separated parts, expected 3", parts.len()) });
        }
        let label = match parts[2].trim() {
            "1" => true,
            "0" => false,
            other => return Err(ResolveError::Parse { line: index + 1, message: format!("label {other:?}, expected 0 or 1") }),
        };
        pairs.push(LabelledPair { left: entity(left, parts[0]), right: entity(right, parts[1]), label });
    }
    Ok(pairs)
}

/// Reads a Ditto pair file.
///
/// # Errors
/// An unreadable file or a line that does not parse.
pub fn read(path: &Path, left: &str, right: &str) -> Result<Vec<LabelledPair>> {
    parse(&std::fs::read_to_string(path)?, left, right)
}

/// Serialises an entity's `attributes` (benchmark names, in order) the Ditto way.
pub fn serialize(entity: &Entity, attributes: &[&str]) -> String {
    attributes
        .iter()
        .map(|attribute| format!("COL {attribute} VAL {}", entity.get(field_for(attribute)).unwrap_or("").to_lowercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line of a pair file.
pub fn line(pair: &LabelledPair, attributes: &[&str]) -> String {
    format!("{} \t{} \t{}", serialize(&pair.left, attributes), serialize(&pair.right, attributes), u8::from(pair.label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_source_md_example_and_round_trips() {
        let text = "COL name VAL sony pink cyber-shot dscw120p COL description VAL sony pink COL price VAL \tCOL name VAL olympus fe-360 COL description VAL 8 megapixel COL price VAL 104.95 \t0\n";
        let pairs = parse(text, "abt", "buy").unwrap();
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].left.title(), "sony pink cyber-shot dscw120p");
        assert_eq!(pairs[0].left.get("price"), None);
        assert_eq!(pairs[0].right.price(), Some(104.95));
        assert!(!pairs[0].label);
        let again = parse(&line(&pairs[0], &["name", "description", "price"]), "abt", "buy").unwrap();
        assert_eq!(again, pairs);
        assert!(matches!(parse("a\tb\t2", "l", "r"), Err(ResolveError::Parse { line: 1, .. })));
    }
}
