//! Generated product records from two sources with planted matches, for the blocking benchmark
//! and the tests: product families (same brand, category and model stem, different variants) so
//! near-duplicates that are not matches exist, and a noised copy of each matched product in the
//! second source (dropped, reordered and misspelt title words, reformatted or truncated model
//! numbers, missing brands, jittered and missing prices).

use std::path::Path;

use crate::ditto::{self, LabelledPair};
use crate::matcher::SplitMix;
use crate::record::{field, Entity};
use crate::Result;

const BRANDS: [&str; 40] = [
    "sony",
    "samsung",
    "lg",
    "panasonic",
    "philips",
    "bosch",
    "canon",
    "nikon",
    "apple",
    "dell",
    "lenovo",
    "asus",
    "acer",
    "hp",
    "logitech",
    "jbl",
    "bose",
    "garmin",
    "epson",
    "brother",
    "sharp",
    "toshiba",
    "pioneer",
    "yamaha",
    "denon",
    "olympus",
    "fujifilm",
    "kenwood",
    "braun",
    "siemens",
    "miele",
    "whirlpool",
    "netgear",
    "tplink",
    "sandisk",
    "kingston",
    "seagate",
    "sennheiser",
    "microsoft",
    "nintendo",
];
const CATEGORIES: [&str; 30] = [
    "digital camera",
    "camcorder",
    "laptop",
    "monitor",
    "headphones",
    "speaker",
    "soundbar",
    "receiver",
    "dishwasher",
    "washer",
    "refrigerator",
    "microwave",
    "coffee maker",
    "blender",
    "router",
    "hard drive",
    "memory card",
    "printer",
    "scanner",
    "keyboard",
    "mouse",
    "tablet",
    "smartphone",
    "gps navigator",
    "projector",
    "tv",
    "dvd player",
    "turntable",
    "vacuum cleaner",
    "shaver",
];
const ADJECTIVES: [&str; 16] = [
    "compact", "portable", "wireless", "pro", "ultra", "slim", "premium", "classic", "smart", "mini", "hd", "digital", "stereo", "silent",
    "deluxe", "advanced",
];
const COLORS: [&str; 10] = ["black", "white", "silver", "red", "blue", "pink", "grey", "gold", "green", "titanium"];
const SPECS: [&str; 6] = ["gb", "inch", "w", "mp", "mah", "x zoom"];

/// Generated records and which pairs of them are the same product.
#[derive(Debug, Clone)]
pub struct GeneratedProducts {
    pub entities: Vec<Entity>,
    /// True matches `(i, j)`, `i < j`, indices into `entities`.
    pub matches: Vec<(u32, u32)>,
    /// Per record: its product family (variants of one model line share it).
    pub family: Vec<u32>,
}

fn pick<'a>(rng: &mut SplitMix, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len())]
}

fn letters(rng: &mut SplitMix, n: usize) -> String {
    (0..n).map(|_| (b'a' + rng.below(26) as u8) as char).collect()
}

/// A clean product of family `family`: brand, title, model number, price, description.
fn product(rng: &mut SplitMix, family: &Family, variant: usize, id: String, ts: i64) -> Entity {
    let color = COLORS[(family.color + variant) % COLORS.len()];
    let model = format!("{}{}", family.stem, family.suffixes[variant]);
    let spec = format!("{}{}", family.spec_value * (variant as u32 + 1), family.spec);
    let title = format!("{} {} {} {} {} {}", family.brand, family.adjective, family.category, model, color, spec);
    let price = family.price * (1.0 + 0.15 * variant as f64);
    Entity::new("shop", id, ts)
        .with(field::TITLE, title)
        .with(field::BRAND, family.brand)
        .with(field::MODEL, model.clone())
        .with(field::PRICE, format!("{price:.2}"))
        .with(field::CATEGORY, family.category)
        .with(field::DESCRIPTION, format!("{} {} by {} in {color}, {spec}, model {model}", family.adjective, family.category, family.brand))
        .with("stock", (rng.below(50)).to_string())
}

struct Family {
    brand: &'static str,
    category: &'static str,
    adjective: &'static str,
    stem: String,
    suffixes: Vec<String>,
    spec: &'static str,
    spec_value: u32,
    color: usize,
    price: f64,
}

fn family(rng: &mut SplitMix) -> Family {
    let brand = pick(rng, &BRANDS);
    let stem_letters = 2 + rng.below(2);
    let stem = format!("{}{}", letters(rng, stem_letters), 100 + rng.below(9900));
    let variants = 1 + rng.below(3);
    let mut suffixes: Vec<String> = Vec::new();
    while suffixes.len() < variants {
        let length = rng.below(3);
        let suffix = letters(rng, length);
        if !suffixes.contains(&suffix) {
            suffixes.push(suffix);
        }
    }
    Family {
        brand,
        category: pick(rng, &CATEGORIES),
        adjective: pick(rng, &ADJECTIVES),
        stem,
        suffixes,
        spec: pick(rng, &SPECS),
        spec_value: 2 + rng.below(62) as u32,
        color: rng.below(COLORS.len()),
        price: (3.0 + 1.5 * rng.normal()).exp().clamp(5.0, 5000.0),
    }
}

fn typo(rng: &mut SplitMix, word: &str) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.len() < 4 {
        return word.to_string();
    }
    let at = 1 + rng.below(chars.len() - 2);
    match rng.below(3) {
        0 => chars.swap(at, at + 1),
        1 => {
            chars.remove(at);
        }
        _ => chars.insert(at, chars[at]),
    }
    chars.into_iter().collect()
}

/// The second source's noised copy of a product.
fn noised(rng: &mut SplitMix, clean: &Entity, id: String, ts: i64) -> Entity {
    let model = clean.get(field::MODEL).unwrap_or("").to_string();
    let shown_model = match rng.below(10) {
        0..=3 => model.clone(),
        4..=5 => {
            let split = model.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
            format!("{}-{}", &model[..split], &model[split..]).to_uppercase()
        }
        6 => model.trim_end_matches(|c: char| c.is_alphabetic()).to_string(),
        7 => String::new(),
        _ => model.to_uppercase(),
    };
    let mut words: Vec<String> = clean.title().split_whitespace().map(String::from).collect();
    let model_at = words.iter().position(|w| *w == model);
    if let Some(at) = model_at {
        words[at] = shown_model.clone();
    }
    if rng.unit() < 0.3 && words.len() > 3 {
        let at = 1 + rng.below(words.len() - 1);
        if Some(at) != model_at {
            words.remove(at);
        }
    }
    if rng.unit() < 0.3 {
        let at = rng.below(words.len());
        words[at] = typo(rng, &words[at]);
    }
    if rng.unit() < 0.3 && words.len() > 2 {
        let last = words.len() - 1;
        words.swap(1, last);
    }
    let brand_missing = rng.unit() < 0.15;
    if brand_missing && rng.unit() < 0.5 {
        words.retain(|w| Some(w.as_str()) != clean.get(field::BRAND));
    }
    let mut copy = Entity::new("feed", id, ts).with(field::TITLE, words.join(" ").split_whitespace().collect::<Vec<_>>().join(" "));
    if !brand_missing {
        copy.set(field::BRAND, clean.get(field::BRAND).unwrap_or("").to_uppercase());
    }
    if rng.unit() < 0.6 {
        copy.set(field::MODEL, shown_model);
    }
    if let Some(price) = clean.price().filter(|_| rng.unit() > 0.1) {
        copy.set(field::PRICE, format!("{:.2}", price * (1.0 + 0.05 * rng.normal()).max(0.5)));
    }
    if rng.unit() < 0.5 {
        copy.set(field::DESCRIPTION, clean.get(field::DESCRIPTION).unwrap_or(""));
    }
    copy.set("stock", rng.below(50).to_string());
    copy
}

/// `records` products from sources `shop` and `feed`: `match_share` of them are in a planted
/// matching pair (one record in each source), the rest appear in one source only.
pub fn products(records: usize, match_share: f64, seed: u64) -> GeneratedProducts {
    let mut rng = SplitMix(seed);
    let pairs = ((records as f64 * match_share.clamp(0.0, 1.0)) / 2.0) as usize;
    let singles = records.saturating_sub(2 * pairs);
    let mut out = GeneratedProducts { entities: Vec::with_capacity(records), matches: Vec::with_capacity(pairs), family: Vec::new() };
    let mut families: Vec<Family> = Vec::new();
    let mut current_variant = 0usize;
    let mut next_product = |rng: &mut SplitMix, families: &mut Vec<Family>| {
        if families.is_empty() || current_variant + 1 >= families.last().map_or(0, |f| f.suffixes.len()) {
            families.push(family(rng));
            current_variant = 0;
        } else {
            current_variant += 1;
        }
        (families.len() - 1, current_variant)
    };
    let base_ts = 1_700_000_000_000i64;
    for n in 0..pairs + singles {
        let (family_index, variant) = next_product(&mut rng, &mut families);
        let ts = base_ts + rng.below(86_400_000 * 90) as i64;
        let clean = product(&mut rng, &families[family_index], variant, format!("s{n}"), ts);
        if n < pairs {
            let copy_ts = ts + rng.below(86_400_000 * 30) as i64;
            let copy = noised(&mut rng, &clean, format!("f{n}"), copy_ts);
            let i = out.entities.len() as u32;
            out.entities.push(clean);
            out.entities.push(copy);
            out.family.extend([family_index as u32, family_index as u32]);
            out.matches.push((i, i + 1));
        } else if rng.unit() < 0.5 {
            out.entities.push(clean);
            out.family.push(family_index as u32);
        } else {
            let copy = noised(&mut rng, &clean, format!("f{n}"), ts);
            out.entities.push(copy);
            out.family.push(family_index as u32);
        }
    }
    out
}

/// Labelled pairs for training and testing a matcher on `generated`: every planted match, and
/// per match `negatives` non-matches, half of them hard (same family or brand) where possible.
pub fn labelled_pairs(generated: &GeneratedProducts, negatives: usize, seed: u64) -> Vec<LabelledPair> {
    let mut rng = SplitMix(seed);
    let entities = &generated.entities;
    let feed: Vec<usize> = (0..entities.len()).filter(|&i| entities[i].source == "feed").collect();
    let mut by_family: std::collections::HashMap<u32, Vec<usize>> = std::collections::HashMap::new();
    for &i in &feed {
        by_family.entry(generated.family[i]).or_default().push(i);
    }
    let matched: std::collections::HashSet<(u32, u32)> = generated.matches.iter().copied().collect();
    let mut out = Vec::new();
    for &(i, j) in &generated.matches {
        let (left, right) = (&entities[i as usize], &entities[j as usize]);
        out.push(LabelledPair { left: left.clone(), right: right.clone(), label: true });
        let siblings = by_family.get(&generated.family[i as usize]).cloned().unwrap_or_default();
        for k in 0..negatives {
            let candidate =
                if k % 2 == 0 && siblings.len() > 1 { siblings[rng.below(siblings.len())] } else { feed[rng.below(feed.len())] };
            let key = (i.min(candidate as u32), i.max(candidate as u32));
            if candidate as u32 == j || matched.contains(&key) {
                continue;
            }
            out.push(LabelledPair { left: left.clone(), right: entities[candidate].clone(), label: false });
        }
    }
    // Shuffle so splits mix positives and negatives.
    for index in (1..out.len()).rev() {
        out.swap(index, rng.below(index + 1));
    }
    out
}

/// Writes a small benchmark-shaped fixture (`train.txt`, `valid.txt`, `test.txt`, split 3:1:1) in
/// the Ditto format with Amazon-Google's attributes (`title, manufacturer, price`).
///
/// # Errors
/// Writing the files failed.
pub fn write_ditto_fixture(dir: &Path, products_count: usize, seed: u64) -> Result<usize> {
    let generated = products(products_count, 0.8, seed);
    let pairs = labelled_pairs(&generated, 4, seed + 1);
    let attributes = ["title", "manufacturer", "price"];
    std::fs::create_dir_all(dir)?;
    let (train_end, valid_end) = (pairs.len() * 3 / 5, pairs.len() * 4 / 5);
    for (name, range) in [("train.txt", 0..train_end), ("valid.txt", train_end..valid_end), ("test.txt", valid_end..pairs.len())] {
        let text: String = pairs[range].iter().map(|pair| ditto::line(pair, &attributes) + "\n").collect();
        std::fs::write(dir.join(name), text)?;
    }
    Ok(pairs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_matches_are_across_sources_and_deterministic() {
        let generated = products(1000, 0.8, 5);
        assert_eq!(generated.entities.len(), 1000);
        assert_eq!(generated.matches.len(), 400);
        for &(i, j) in &generated.matches {
            assert_ne!(generated.entities[i as usize].source, generated.entities[j as usize].source);
        }
        assert_eq!(products(1000, 0.8, 5).entities, generated.entities);
    }
}
