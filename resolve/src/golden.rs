//! Golden records: one record per cluster, each field chosen by a survivorship rule from config
//! (prefer a source, most recent, longest, most frequent) and keeping its provenance: the source,
//! record id and timestamp it came from, and the rule that chose it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::blocking::config_problems;
use crate::record::Entity;
use crate::Result;

/// How a field's surviving value is chosen among a cluster's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The first of the field's `sources` that has a value (then `fallback`).
    PreferSource,
    /// The value of the most recently changed record.
    MostRecent,
    /// The longest value (ties: most recent).
    Longest,
    /// The value most records agree on, compared case- and space-insensitively (ties: most recent).
    MostFrequent,
}

/// One field's rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    pub rule: Rule,
    /// `prefer_source`: the sources in order of preference.
    #[serde(default)]
    pub sources: Vec<String>,
    /// `prefer_source`: the rule when no preferred source has a value.
    #[serde(default = "default_fallback")]
    pub fallback: Rule,
}

fn default_fallback() -> Rule {
    Rule::MostRecent
}

/// Survivorship rules: one per named field, `default` for the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurvivorshipConfig {
    pub default: Rule,
    pub fields: BTreeMap<String, FieldRule>,
}

impl Default for SurvivorshipConfig {
    fn default() -> Self {
        let mut fields = BTreeMap::new();
        fields.insert("description".into(), FieldRule { rule: Rule::Longest, sources: vec![], fallback: Rule::MostRecent });
        fields.insert("brand".into(), FieldRule { rule: Rule::MostFrequent, sources: vec![], fallback: Rule::MostRecent });
        fields.insert("stock".into(), FieldRule { rule: Rule::MostRecent, sources: vec![], fallback: Rule::MostRecent });
        Self { default: Rule::MostRecent, fields }
    }
}

impl SurvivorshipConfig {
    /// Reports every bad rule at once, each naming its key under `prefix`.
    ///
    /// # Errors
    /// [`crate::ResolveError::Config`] naming the first bad key (and listing the others).
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let mut problems = Vec::new();
        if self.default == Rule::PreferSource {
            problems.push((
                format!("{prefix}.default"),
                "prefer_source needs a field's `sources`; use most_recent, longest or most_frequent".into(),
            ));
        }
        for (name, rule) in &self.fields {
            let key = format!("{prefix}.fields.{name}");
            if name.trim().is_empty() {
                problems.push((key.clone(), "empty field name".into()));
            }
            match rule.rule {
                Rule::PreferSource if rule.sources.is_empty() => {
                    problems.push((format!("{key}.sources"), "prefer_source needs at least one source".into()));
                }
                Rule::PreferSource => {}
                _ if !rule.sources.is_empty() => {
                    problems.push((format!("{key}.sources"), "only used with rule = \"prefer_source\"".into()));
                }
                _ => {}
            }
            if rule.fallback == Rule::PreferSource {
                problems.push((format!("{key}.fallback"), "must be most_recent, longest or most_frequent".into()));
            }
        }
        config_problems(problems)
    }

    fn rule_for(&self, name: &str) -> FieldRule {
        self.fields.get(name).cloned().unwrap_or(FieldRule { rule: self.default, sources: vec![], fallback: Rule::MostRecent })
    }
}

/// A surviving value and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenValue {
    pub value: String,
    pub source: String,
    pub record_id: String,
    pub ts: i64,
    /// The rule that chose it (the fallback, when no preferred source had a value).
    pub rule: Rule,
}

/// A member record of a golden record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRef {
    pub source: String,
    pub id: String,
    pub ts: i64,
}

/// One entity's golden record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenRecord {
    /// Stable: the smallest `source/id` among the members.
    pub id: String,
    pub members: Vec<MemberRef>,
    pub fields: BTreeMap<String, GoldenValue>,
}

/// The golden record of one cluster's records.
pub fn golden_record(members: &[&Entity], config: &SurvivorshipConfig) -> GoldenRecord {
    let mut sorted: Vec<&Entity> = members.to_vec();
    sorted.sort_by(|a, b| (a.source.as_str(), a.id.as_str()).cmp(&(b.source.as_str(), b.id.as_str())));
    let mut names: Vec<&str> = sorted.iter().flat_map(|e| e.fields.keys().map(String::as_str)).collect();
    names.sort_unstable();
    names.dedup();
    let mut fields = BTreeMap::new();
    for name in names {
        let candidates: Vec<(&Entity, &str)> = sorted.iter().filter_map(|e| e.get(name).map(|v| (*e, v))).collect();
        let rule = config.rule_for(name);
        let chosen = match rule.rule {
            Rule::PreferSource => rule
                .sources
                .iter()
                .find_map(|source| newest(candidates.iter().filter(|(e, _)| &e.source == source).copied()))
                .map(|found| (found, Rule::PreferSource))
                .or_else(|| choose(&candidates, rule.fallback).map(|found| (found, rule.fallback))),
            other => choose(&candidates, other).map(|found| (found, other)),
        };
        if let Some(((entity, value), rule)) = chosen {
            fields.insert(
                name.to_string(),
                GoldenValue { value: value.to_string(), source: entity.source.clone(), record_id: entity.id.clone(), ts: entity.ts, rule },
            );
        }
    }
    GoldenRecord {
        id: sorted.first().map(|e| e.key()).unwrap_or_default(),
        members: sorted.iter().map(|e| MemberRef { source: e.source.clone(), id: e.id.clone(), ts: e.ts }).collect(),
        fields,
    }
}

/// The most recent candidate; ties go to the first (members are sorted by source and id).
fn newest<'a>(candidates: impl Iterator<Item = (&'a Entity, &'a str)>) -> Option<(&'a Entity, &'a str)> {
    candidates.fold(None, |best: Option<(&Entity, &str)>, c| match best {
        Some(b) if b.0.ts >= c.0.ts => Some(b),
        _ => Some(c),
    })
}

fn choose<'a>(candidates: &[(&'a Entity, &'a str)], rule: Rule) -> Option<(&'a Entity, &'a str)> {
    match rule {
        Rule::MostRecent | Rule::PreferSource => newest(candidates.iter().copied()),
        Rule::Longest => {
            let longest = candidates.iter().map(|(_, v)| v.chars().count()).max()?;
            newest(candidates.iter().copied().filter(|(_, v)| v.chars().count() == longest))
        }
        Rule::MostFrequent => {
            let normal = |v: &str| v.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
            let mut counts: HashMap<String, usize> = HashMap::new();
            for (_, value) in candidates {
                *counts.entry(normal(value)).or_default() += 1;
            }
            let top = counts.values().copied().max()?;
            newest(candidates.iter().copied().filter(|(_, v)| counts[&normal(v)] == top))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<Entity> {
        vec![
            Entity::new("erp", "E1", 100)
                .with("title", "Sony DSC-W120 Pink")
                .with("price", "129.00")
                .with("brand", "Sony")
                .with("description", "compact camera"),
            Entity::new("shop", "S9", 300)
                .with("title", "sony dscw120 camera")
                .with("price", "119.00")
                .with("stock", "4")
                .with("brand", "sony"),
            Entity::new("feed", "F3", 200)
                .with("title", "Cyber-shot W120")
                .with("brand", "SONY Corp")
                .with("stock", "0")
                .with("description", "7.2 megapixel compact digital camera, 4x zoom"),
        ]
    }

    fn config() -> SurvivorshipConfig {
        toml::from_str(
            r#"
            default = "most_recent"
            [fields.price]
            rule = "prefer_source"
            sources = ["erp"]
            [fields.description]
            rule = "longest"
            [fields.stock]
            rule = "most_recent"
            [fields.brand]
            rule = "most_frequent"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn each_field_follows_its_rule_and_keeps_its_provenance() {
        let records = fixture();
        let members: Vec<&Entity> = records.iter().collect();
        let config = config();
        config.validate("resolve.survivorship").unwrap();
        let golden = golden_record(&members, &config);
        assert_eq!(golden.id, "erp/E1");
        assert_eq!(golden.members.len(), 3);
        let price = &golden.fields["price"];
        assert_eq!((price.value.as_str(), price.source.as_str(), price.record_id.as_str(), price.ts), ("129.00", "erp", "E1", 100));
        assert_eq!(price.rule, Rule::PreferSource);
        let stock = &golden.fields["stock"];
        assert_eq!((stock.value.as_str(), stock.source.as_str()), ("4", "shop"));
        let description = &golden.fields["description"];
        assert_eq!((description.source.as_str(), description.record_id.as_str(), description.ts), ("feed", "F3", 200));
        let brand = &golden.fields["brand"];
        assert_eq!(brand.value.to_lowercase(), "sony");
        assert_eq!(brand.source, "shop", "the two agreeing values tie, the newer wins");
        assert_eq!(golden.fields["title"].source, "shop", "default: most recent");
    }

    #[test]
    fn prefer_source_falls_back_when_the_source_lacks_the_field() {
        let records = fixture();
        let members: Vec<&Entity> = records[1..].iter().collect();
        let golden = golden_record(&members, &config());
        assert_eq!(golden.fields["price"].source, "shop");
        assert_eq!(golden.fields["price"].rule, Rule::MostRecent);
    }

    #[test]
    fn bad_rules_are_named_by_key() {
        let config: SurvivorshipConfig = toml::from_str("[fields.price]\nrule = \"prefer_source\"\n").unwrap();
        let err = config.validate("resolve.survivorship").unwrap_err().to_string();
        assert!(err.contains("resolve.survivorship.fields.price.sources"), "{err}");
        let unknown = toml::from_str::<SurvivorshipConfig>("[fields.price]\nrule = \"newest\"\n").unwrap_err().to_string();
        assert!(unknown.contains("newest") && unknown.contains("most_recent"), "{unknown}");
        let typo =
            toml::from_str::<SurvivorshipConfig>("[fields.price]\nrule = \"longest\"\nsource = [\"erp\"]\n").unwrap_err().to_string();
        assert!(typo.contains("source"), "{typo}");
    }
}
