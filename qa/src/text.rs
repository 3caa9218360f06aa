//! Text analysis shared by retrieval and classification: lower-cased word tokens, a light English
//! stemmer and a stop-word list.

/// Words too common to say what a question is about.
const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "here", "how", "i", "if", "im", "in", "into", "is", "it", "its", "just", "me", "my", "of",
    "on", "or", "our", "please", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to",
    "u", "us", "was", "we", "were", "what", "whats", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// Lower-cased runs of letters and digits; apostrophes vanish ("don't" → "dont"), every other
/// character separates words.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            current.extend(ch.to_lowercase());
        } else if ch == '\'' || ch == '’' {
            continue;
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether a (lower-cased) word is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Strips common English inflections so "shipping", "shipped" and "ships" meet at "ship".
pub fn stem(word: &str) -> String {
    let len = word.chars().count();
    if len <= 3 || word.chars().any(|ch| ch.is_ascii_digit()) {
        return word.to_string();
    }
    let strip = |suffix: &str, keep: usize| -> Option<String> {
        word.strip_suffix(suffix).filter(|rest| rest.chars().count() >= keep).map(undouble)
    };
    strip("ing", 3)
        .or_else(|| strip("ed", 3))
        .or_else(|| word.strip_suffix("ies").filter(|rest| rest.len() >= 2).map(|rest| format!("{rest}y")))
        .or_else(|| word.strip_suffix("sses").map(|rest| format!("{rest}ss")))
        .or_else(|| {
            word.strip_suffix("es").filter(|rest| rest.ends_with("sh") || rest.ends_with("ch") || rest.ends_with('x')).map(String::from)
        })
        .or_else(|| word.strip_suffix('s').filter(|rest| !rest.ends_with('s') && !rest.ends_with('u') && rest.len() >= 3).map(String::from))
        .unwrap_or_else(|| word.to_string())
}

/// "shipp" → "ship", "stopp" → "stop": the doubled consonant an -ing or -ed left behind.
fn undouble(rest: &str) -> String {
    let bytes = rest.as_bytes();
    let n = bytes.len();
    if n >= 2 && bytes[n - 1] == bytes[n - 2] && !b"aeioulsz".contains(&bytes[n - 1]) {
        rest[..n - 1].to_string()
    } else {
        rest.to_string()
    }
}

/// The terms retrieval matches on: stemmed words that are not stop words.
pub fn terms(text: &str) -> Vec<String> {
    words(text).into_iter().filter(|word| !is_stop_word(word)).map(|word| stem(&word)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn words_lowercase_and_split() {
        assert_eq!(words("Where's my ORDER #1042?"), ["wheres", "my", "order", "1042"]);
        assert_eq!(words("  café—crème "), ["café", "crème"]);
    }

    #[test]
    fn inflections_meet() {
        for (word, stemmed) in [
            ("shipping", "ship"),
            ("shipped", "ship"),
            ("ships", "ship"),
            ("deliveries", "delivery"),
            ("addresses", "address"),
            ("boxes", "box"),
            ("returns", "return"),
            ("status", "status"),
            ("bus", "bus"),
            ("1042", "1042"),
        ] {
            assert_eq!(stem(word), stemmed, "{word}");
        }
    }

    #[test]
    fn terms_drop_stop_words() {
        assert_eq!(terms("How do I return my shoes?"), ["return", "shoe"]);
    }
}
