//! RFM scoring (recency, frequency, monetary quintiles 1-5) and named segments from rules given as data.
//!
//! A segment rule is a small boolean expression over the scores `r`, `f` and `m`:
//! comparisons `r >= 4` (`>=`, `<=`, `>`, `<`, `==` or `=`, `!=`, against a score 1-5) joined by
//! `&&` / `and` and `||` / `or` (`&&` binds tighter), with parentheses, or `true` to match
//! everyone. Rules are tried in order and the first match names the segment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::purchases::Purchase;
use crate::calendar::MS_PER_DAY;
use crate::{AnalyticsError, Result};

/// One named segment and the rule a customer's scores must meet to be in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRule {
    pub name: String,
    pub rule: String,
}

/// The segment rules, as configured (e.g. a `[[segments]]` TOML array).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RfmConfig {
    /// Tried in order; the first that matches names the customer's segment.
    pub segments: Vec<SegmentRule>,
    /// The segment of customers no rule matches.
    pub fallback: String,
}

impl Default for RfmConfig {
    /// Ten segments on the R and F scores that cover all 25 combinations.
    fn default() -> Self {
        let rules = [
            ("champions", "r >= 4 && f >= 4"),
            ("loyal", "r >= 3 && f >= 4"),
            ("potential_loyalists", "r >= 4 && f >= 2"),
            ("new", "r >= 4 && f == 1"),
            ("need_attention", "r == 3 && f == 3"),
            ("promising", "r == 3"),
            ("cannot_lose", "r == 1 && f >= 4"),
            ("at_risk", "r <= 2 && f >= 3"),
            ("about_to_sleep", "r == 2"),
            ("hibernating", "r == 1"),
        ];
        Self {
            segments: rules.iter().map(|(name, rule)| SegmentRule { name: name.to_string(), rule: rule.to_string() }).collect(),
            fallback: "other".to_string(),
        }
    }
}

impl RfmConfig {
    /// Parses and checks every rule.
    ///
    /// # Errors
    /// [`AnalyticsError::Config`] listing every problem at once, each naming its rule
    /// (`segments[2] "loyal": ...`): a rule that does not parse, an empty or repeated name, an
    /// empty fallback.
    pub fn compile(&self) -> Result<RfmRules> {
        let mut problems = Vec::new();
        let mut segments = Vec::new();
        for (index, segment) in self.segments.iter().enumerate() {
            let at = format!("segments[{index}] {:?}", segment.name);
            if segment.name.trim().is_empty() {
                problems.push(format!("{at}: the name is empty"));
            } else if self.segments[..index].iter().any(|earlier| earlier.name == segment.name) {
                problems.push(format!("{at}: the name is used by an earlier segment"));
            }
            match parse_rule(&segment.rule) {
                Ok(expr) => segments.push((segment.name.clone(), expr)),
                Err(message) => problems.push(format!("{at}: rule {:?}: {message}", segment.rule)),
            }
        }
        if self.fallback.trim().is_empty() {
            problems.push("fallback: the name is empty".to_string());
        }
        if problems.is_empty() {
            Ok(RfmRules { segments, fallback: self.fallback.clone() })
        } else {
            Err(AnalyticsError::Config(problems.join("\n")))
        }
    }
}

/// Compiled segment rules: see [`RfmConfig::compile`].
#[derive(Clone, Debug, PartialEq)]
pub struct RfmRules {
    segments: Vec<(String, Expr)>,
    fallback: String,
}

impl Default for RfmRules {
    fn default() -> Self {
        RfmConfig::default().compile().expect("the default RFM rules parse (checked by a test)")
    }
}

impl RfmRules {
    /// The segment of a customer with these scores: the first rule that matches, else the fallback.
    pub fn segment(&self, r: u8, f: u8, m: u8) -> &str {
        let scores = [r, f, m];
        self.segments.iter().find(|(_, expr)| expr.eval(&scores)).map_or(self.fallback.as_str(), |(name, _)| name.as_str())
    }
}

/// A customer's RFM values, scores and segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmScore {
    pub user_id: String,
    /// Whole days from the last purchase to the reference time.
    pub recency_days: i64,
    /// Purchases.
    pub frequency: u32,
    /// Total purchase value.
    pub monetary: f64,
    /// Recency score: 5 for the most recent fifth.
    pub r: u8,
    /// Frequency score: 5 for the most frequent fifth.
    pub f: u8,
    /// Monetary score: 5 for the biggest spenders' fifth.
    pub m: u8,
    pub segment: String,
}

/// Quintile scores 1-5 (higher value, higher score) by rank, ties sharing a score.
///
/// Values are ranked ascending; a run of equal values starting at rank `lo` (0-based) of n gets
/// score 1 + ⌊5·lo/n⌋, so ties never split across scores and the result does not depend on the
/// input order. With heavy ties a score may be unused (e.g. when most customers bought once).
pub fn quintile_scores(values: &[f64]) -> Vec<u8> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut scores = vec![0; n];
    let mut lo = 0;
    while lo < n {
        let mut hi = lo;
        while hi + 1 < n && values[order[hi + 1]].total_cmp(&values[order[lo]]).is_eq() {
            hi += 1;
        }
        let score = (1 + 5 * lo / n).min(5) as u8;
        for &index in &order[lo..=hi] {
            scores[index] = score;
        }
        lo = hi + 1;
    }
    scores
}

/// Scores every customer with a purchase as of `now` (UTC milliseconds), sorted by user id.
pub fn rfm(purchases: &[Purchase], now: i64, rules: &RfmRules) -> Vec<RfmScore> {
    let mut by_user: BTreeMap<&str, (i64, u32, f64)> = BTreeMap::new();
    for purchase in purchases {
        let entry = by_user.entry(purchase.user_id.as_str()).or_insert((i64::MIN, 0, 0.0));
        entry.0 = entry.0.max(purchase.ts);
        entry.1 += 1;
        entry.2 += purchase.value;
    }
    let recency: Vec<f64> = by_user.values().map(|(last, _, _)| -((now - last).div_euclid(MS_PER_DAY) as f64)).collect();
    let frequency: Vec<f64> = by_user.values().map(|(_, count, _)| f64::from(*count)).collect();
    let monetary: Vec<f64> = by_user.values().map(|(_, _, total)| *total).collect();
    let (r, f, m) = (quintile_scores(&recency), quintile_scores(&frequency), quintile_scores(&monetary));
    by_user
        .into_iter()
        .enumerate()
        .map(|(i, (user, (last, count, total)))| RfmScore {
            user_id: user.to_string(),
            recency_days: (now - last).div_euclid(MS_PER_DAY),
            frequency: count,
            monetary: total,
            r: r[i],
            f: f[i],
            m: m[i],
            segment: rules.segment(r[i], f[i], m[i]).to_string(),
        })
        .collect()
}

/// Customers per segment.
pub fn segment_counts(scores: &[RfmScore]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for score in scores {
        *counts.entry(score.segment.clone()).or_default() += 1;
    }
    counts
}

/// A parsed rule.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    True,
    /// scores[metric] op value.
    Compare(usize, Op, u8),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Ge,
    Le,
    Gt,
    Lt,
    Eq,
    Ne,
}

impl Expr {
    fn eval(&self, scores: &[u8; 3]) -> bool {
        match self {
            Self::True => true,
            Self::Compare(metric, op, value) => {
                let score = scores[*metric];
                match op {
                    Op::Ge => score >= *value,
                    Op::Le => score <= *value,
                    Op::Gt => score > *value,
                    Op::Lt => score < *value,
                    Op::Eq => score == *value,
                    Op::Ne => score != *value,
                }
            }
            Self::And(parts) => parts.iter().all(|part| part.eval(scores)),
            Self::Or(parts) => parts.iter().any(|part| part.eval(scores)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Number(String),
    Op(Op),
    And,
    Or,
    Open,
    Close,
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "the end".to_string(),
        Some(Token::Word(word)) | Some(Token::Number(word)) => format!("`{word}`"),
        Some(Token::Op(op)) => format!("`{}`", op_text(*op)),
        Some(Token::And) => "`&&`".to_string(),
        Some(Token::Or) => "`||`".to_string(),
        Some(Token::Open) => "`(`".to_string(),
        Some(Token::Close) => "`)`".to_string(),
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Ge => ">=",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Lt => "<",
        Op::Eq => "==",
        Op::Ne => "!=",
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (token, width) = match (c, next) {
            (c, _) if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ('&', Some('&')) => (Token::And, 2),
            ('|', Some('|')) => (Token::Or, 2),
            ('>', Some('=')) => (Token::Op(Op::Ge), 2),
            ('<', Some('=')) => (Token::Op(Op::Le), 2),
            ('=', Some('=')) => (Token::Op(Op::Eq), 2),
            ('!', Some('=')) => (Token::Op(Op::Ne), 2),
            ('>', _) => (Token::Op(Op::Gt), 1),
            ('<', _) => (Token::Op(Op::Lt), 1),
            ('=', _) => (Token::Op(Op::Eq), 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            (c, _) if c.is_ascii_alphanumeric() || c == '_' => {
                let end = (i..chars.len()).find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '_')).unwrap_or(chars.len());
                let word: String = chars[i..end].iter().collect();
                let token = match word.to_ascii_lowercase().as_str() {
                    "and" => Token::And,
                    "or" => Token::Or,
                    _ if word.bytes().all(|b| b.is_ascii_digit()) => Token::Number(word),
                    _ => Token::Word(word),
                };
                (token, end - i)
            }
            (c, _) => return Err(format!("unexpected character `{c}`")),
        };
        tokens.push(token);
        i += width;
    }
    Ok(tokens)
}

fn parse_rule(text: &str) -> Result<Expr, String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("the rule is empty (write `true` to match everyone)".to_string());
    }
    let mut parser = Parser { tokens: &tokens, at: 0 };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        token => Err(format!("expected `&&`, `||` or the end, found {}", describe(token))),
    }
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::Or(parts) })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.atom()?];
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            parts.push(self.atom()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::And(parts) })
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.next().cloned() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    token => Err(format!("expected `)`, found {}", describe(token))),
                }
            }
            Some(Token::Word(word)) => {
                let metric = match word.to_ascii_lowercase().as_str() {
                    "true" => return Ok(Expr::True),
                    "r" | "recency" => 0,
                    "f" | "frequency" => 1,
                    "m" | "monetary" => 2,
                    _ => return Err(format!("unknown score `{word}` (expected r, f, m or true)")),
                };
                let op = match self.next() {
                    Some(Token::Op(op)) => *op,
                    token => return Err(format!("expected a comparison (>=, <=, >, <, ==, !=) after `{word}`, found {}", describe(token))),
                };
                match self.next() {
                    Some(Token::Number(number)) => match number.parse::<u8>() {
                        Ok(value @ 1..=5) => Ok(Expr::Compare(metric, op, value)),
                        _ => Err(format!("a score is 1-5, found `{number}`")),
                    },
                    token => Err(format!("expected a score 1-5 after `{word} {}`, found {}", op_text(op), describe(token))),
                }
            }
            token => Err(format!("expected r, f, m, true or `(`, found {}", describe(token.as_ref()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::fixture::{order, DAY, DAY0};
    use crate::behaviour::purchases::{purchases, PurchaseOptions};

    #[test]
    fn quintiles_rank_values_and_share_scores_between_ties() {
        let values: Vec<f64> = (0..10).map(|v| v as f64).rev().collect();
        assert_eq!(quintile_scores(&values), vec![5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
        // Ties: six 1s (ranks 0-5) all score 1; 2 at rank 6 scores 1 + ⌊30/10⌋ = 4.
        let tied = [1.0, 1.0, 3.0, 1.0, 1.0, 2.0, 1.0, 1.0, 5.0, 4.0];
        assert_eq!(quintile_scores(&tied), vec![1, 1, 4, 1, 1, 4, 1, 1, 5, 5]);
        let mut shuffled = tied;
        shuffled.reverse();
        let mut back = quintile_scores(&shuffled);
        back.reverse();
        assert_eq!(back, quintile_scores(&tied), "input order does not matter");
        assert_eq!(quintile_scores(&[7.0]), vec![1]);
        assert!(quintile_scores(&[]).is_empty());
    }

    #[test]
    fn default_rules_parse_and_cover_every_r_f_pair() {
        let rules = RfmRules::default();
        for r in 1..=5 {
            for f in 1..=5 {
                assert_ne!(rules.segment(r, f, 3), "other", "r={r} f={f}");
            }
        }
        assert_eq!(rules.segment(5, 5, 1), "champions");
        assert_eq!(rules.segment(3, 4, 1), "loyal");
        assert_eq!(rules.segment(5, 1, 1), "new");
        assert_eq!(rules.segment(1, 5, 1), "cannot_lose");
        assert_eq!(rules.segment(2, 3, 1), "at_risk");
        assert_eq!(rules.segment(1, 1, 5), "hibernating");
    }

    #[test]
    fn rules_evaluate_with_precedence_and_parentheses() {
        let config = |rule: &str| RfmConfig { segments: vec![SegmentRule { name: "s".into(), rule: rule.into() }], fallback: "no".into() };
        let matches = |rule: &str, r: u8, f: u8, m: u8| config(rule).compile().expect("valid rule").segment(r, f, m) == "s";
        assert!(matches("r >= 4 && f >= 4", 4, 5, 1));
        assert!(!matches("r >= 4 && f >= 4", 3, 5, 1));
        // && binds tighter: r == 1 || (f == 5 && m == 5).
        assert!(matches("r == 1 || f == 5 && m == 5", 1, 1, 1));
        assert!(!matches("r == 1 || f == 5 && m == 5", 2, 5, 1));
        assert!(!matches("(r == 1 || f == 5) && m == 5", 1, 1, 1));
        assert!(matches("recency>3 and frequency >= 1", 4, 1, 1));
        assert!(matches("m != 3 OR f<2", 3, 1, 3));
        assert!(matches("m=5", 1, 1, 5));
        assert!(matches("true", 1, 1, 1));
    }

    #[test]
    fn validation_names_every_bad_rule() {
        let toml_text = r#"
            fallback = ""
            [[segments]]
            name = "champions"
            rule = "r >= 4 && f >= 4"
            [[segments]]
            name = "broken"
            rule = "r >= 6"
            [[segments]]
            name = "champions"
            rule = "q > 1"
            [[segments]]
            name = "dangling"
            rule = "r >= 4 &&"
        "#;
        let config: RfmConfig = toml::from_str(toml_text).expect("well-formed toml");
        let Err(AnalyticsError::Config(message)) = config.compile() else { panic!("bad rules must be refused") };
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(
            lines,
            vec![
                r#"segments[1] "broken": rule "r >= 6": a score is 1-5, found `6`"#,
                r#"segments[2] "champions": the name is used by an earlier segment"#,
                r#"segments[2] "champions": rule "q > 1": unknown score `q` (expected r, f, m or true)"#,
                r#"segments[3] "dangling": rule "r >= 4 &&": expected r, f, m, true or `(`, found the end"#,
                "fallback: the name is empty",
            ]
        );
        for (rule, fragment) in [
            ("", "empty"),
            ("r >= 4 f", "expected `&&`, `||` or the end, found `f`"),
            ("(r > 1", "expected `)`"),
            ("r ~ 2", "unexpected character `~`"),
            ("r 2", "expected a comparison"),
        ] {
            let config = RfmConfig { segments: vec![SegmentRule { name: "x".into(), rule: rule.into() }], ..RfmConfig::default() };
            let Err(AnalyticsError::Config(message)) = config.compile() else { panic!("{rule:?} must be refused") };
            assert!(message.contains(fragment), "{rule:?}: {message}");
        }
        assert!(toml::from_str::<RfmConfig>("unknown = 1").is_err());
    }

    #[test]
    fn scores_customers_from_purchases() {
        // Five customers; "now" is day 100.
        // a: 3 purchases, last day 95, total 300.  b: 1 purchase, day 90, total 20.
        // c: 2 purchases, last day 10, total 50.   d: 1 purchase, day 5, total 10.
        // e: 2 purchases, last day 95, total 500.
        let lines = [
            order("1", "a", 50, 1.0, Some(100.0)),
            order("2", "a", 80, 1.0, Some(100.0)),
            order("3", "a", 95, 2.0, Some(50.0)),
            order("4", "b", 90, 1.0, Some(20.0)),
            order("5", "c", 1, 1.0, Some(25.0)),
            order("6", "c", 10, 1.0, Some(25.0)),
            order("7", "d", 5, 1.0, Some(10.0)),
            order("8", "e", 60, 1.0, Some(250.0)),
            order("9", "e", 95, 1.0, Some(250.0)),
        ];
        let now = DAY0 + 100 * DAY + 3_600_000;
        let scores = rfm(&purchases(&lines, &PurchaseOptions::default()), now, &RfmRules::default());
        type Row<'a> = (&'a str, i64, u32, f64, u8, u8, u8, &'a str);
        let got: Vec<Row> = scores
            .iter()
            .map(|s| (s.user_id.as_str(), s.recency_days, s.frequency, s.monetary, s.r, s.f, s.m, s.segment.as_str()))
            .collect();
        // Recency (days) 5, 10, 90, 95, 5: ascending goodness d(95) c(90) b(10) a=e(5) → 1, 2, 3, 4 (tie at rank 3).
        // Frequency 3, 1, 2, 1, 2: b=d (ranks 0-1) → 1, c=e (ranks 2-3) → 3, a → 5.
        // Monetary 300, 20, 50, 10, 500: d 1, b 2, c 3, a 4, e 5.
        assert_eq!(
            got,
            vec![
                ("a", 5, 3, 300.0, 4, 5, 4, "champions"),
                ("b", 10, 1, 20.0, 3, 1, 2, "promising"),
                ("c", 90, 2, 50.0, 2, 3, 3, "at_risk"),
                ("d", 95, 1, 10.0, 1, 1, 1, "hibernating"),
                ("e", 5, 2, 500.0, 4, 3, 5, "potential_loyalists"),
            ]
        );
        let counts = segment_counts(&scores);
        assert_eq!(counts.get("champions"), Some(&1));
        assert_eq!(counts.values().sum::<u64>(), 5);
        assert!(rfm(&[], now, &RfmRules::default()).is_empty());
    }
}
