//! Text and value normalisation: Unicode NFC, HTML entities, whitespace, numbers, ids.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::config::IdRules;

/// Decodes HTML entities, collapses runs of whitespace to one space, trims, and applies NFC.
pub fn normalise_text(text: &str) -> String {
    let decoded = if text.contains('&') { html_escape::decode_html_entities(text) } else { text.into() };
    let mut collapsed = String::with_capacity(decoded.len());
    for word in decoded.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    if collapsed.is_ascii() || is_nfc_quick(collapsed.chars()) == IsNormalized::Yes {
        collapsed
    } else {
        collapsed.nfc().collect()
    }
}

/// True for the spellings of "no value": empty, whitespace, `null`, `none`, `n/a`, `nan`.
pub fn is_missing_text(text: &str) -> bool {
    let text = text.trim();
    text.is_empty()
        || text.eq_ignore_ascii_case("null")
        || text.eq_ignore_ascii_case("none")
        || text.eq_ignore_ascii_case("n/a")
        || text.eq_ignore_ascii_case("nan")
}

/// Parses a number written by a shop: `12.5`, `$1,299.00`, `12,50 €`, ` 3 `.
///
/// # Errors
/// A message naming the text.
pub fn parse_number(text: &str) -> Result<f64, String> {
    let cleaned: String = text.trim().chars().filter(|c| !matches!(c, '$' | '€' | '£' | '¥' | ' ' | '\u{a0}' | '_')).collect();
    let cleaned = cleaned.trim_start_matches("USD").trim_start_matches("EUR").trim_end_matches("USD").trim_end_matches("EUR");
    let normalised = match (cleaned.rfind(','), cleaned.rfind('.')) {
        (Some(_), Some(_)) => cleaned.replace(',', ""),
        (Some(comma), None) => {
            let decimals = cleaned.len() - comma - 1;
            if decimals == 3 && cleaned.matches(',').count() >= 1 && !cleaned[..comma].is_empty() {
                cleaned.replace(',', "")
            } else {
                cleaned.replace(',', ".")
            }
        }
        _ => cleaned.to_string(),
    };
    match normalised.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(format!("{text:?} is not a number")),
    }
}

/// Parses a boolean: true/false, yes/no, y/n, t/f, 1/0, in any case.
///
/// # Errors
/// A message naming the text and the accepted spellings.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "t" | "1" | "in_stock" | "available" => Ok(true),
        "false" | "no" | "n" | "f" | "0" | "out_of_stock" | "unavailable" => Ok(false),
        _ => Err(format!("{text:?} is not a boolean (true/false, yes/no, 1/0)")),
    }
}

/// Applies a source's id rules: trim, optional lower-casing, prefix stripping, zero trimming.
pub fn normalise_id(text: &str, rules: &IdRules) -> String {
    let mut id = text.trim();
    for prefix in &rules.strip_prefixes {
        if id.len() >= prefix.len() && id.is_char_boundary(prefix.len()) && id[..prefix.len()].eq_ignore_ascii_case(prefix) {
            id = &id[prefix.len()..];
            break;
        }
    }
    if rules.trim_leading_zeros && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        let trimmed = id.trim_start_matches('0');
        id = if trimmed.is_empty() { "0" } else { trimmed };
    }
    if rules.lowercase {
        id.to_lowercase()
    } else {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_decoded_collapsed_and_composed() {
        assert_eq!(normalise_text("  Caf\u{65}\u{301}  &amp; Bar\n\t&#233;  "), "Caf\u{e9} & Bar \u{e9}");
        assert_eq!(normalise_text("plain"), "plain");
    }

    #[test]
    fn shop_numbers_parse() {
        assert_eq!(parse_number("$1,299.00").unwrap(), 1299.0);
        assert_eq!(parse_number("12,50 €").unwrap(), 12.5);
        assert_eq!(parse_number("1,299").unwrap(), 1299.0);
        assert_eq!(parse_number(" 3 ").unwrap(), 3.0);
        assert_eq!(parse_number("-2.5").unwrap(), -2.5);
        assert!(parse_number("twelve").is_err());
        assert!(parse_number("inf").is_err());
    }

    #[test]
    fn missing_spellings() {
        for text in ["", "  ", "NULL", "n/a", "NaN", "None"] {
            assert!(is_missing_text(text), "{text:?}");
        }
        assert!(!is_missing_text("0"));
    }

    #[test]
    fn id_variants_resolve_to_one_id() {
        let rules = IdRules { lowercase: true, strip_prefixes: vec!["SKU-".into(), "item_".into()], trim_leading_zeros: true };
        for variant in ["SKU-00042", "sku-42", " item_042 ", "42"] {
            assert_eq!(normalise_id(variant, &rules), "42", "{variant}");
        }
        assert_eq!(normalise_id("SKU-0", &rules), "0");
        assert_eq!(normalise_id("AbC", &IdRules::default()), "AbC");
    }

    #[test]
    fn booleans() {
        assert!(parse_bool("Yes").unwrap());
        assert!(!parse_bool("0").unwrap());
        assert!(parse_bool("maybe").is_err());
    }
}
