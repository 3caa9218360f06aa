//! A seeded generator of a small, deliberately dirty multi-source shop: a catalogue CSV, a
//! behaviour-event JSONL file and a semicolon-separated orders CSV, with the defects real feeds
//! have, plus the hand-written FAQ knowledge base (clean). It keeps its own ledger of what each
//! planted defect must become, so tests can assert exact counts without trusting the cleaner
//! they test.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How big a shop to write.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ShopSize {
    pub items: usize,
    pub events: usize,
    pub orders: usize,
    /// Share of rows that carry a planted defect, 0..1.
    pub dirty_rate: f64,
}

impl ShopSize {
    /// The bundled demo shop.
    pub const DEMO: ShopSize = ShopSize { items: 400, events: 6000, orders: 2500, dirty_rate: 0.06 };
}

/// What the cleaner must report for one source, by the generator's own count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    pub read: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: BTreeMap<String, u64>,
    /// Mapped records (reached field mapping) missing each field.
    pub missing: BTreeMap<String, u64>,
    pub filled: BTreeMap<String, u64>,
    /// Planted outliers per field.
    pub outliers: BTreeMap<String, u64>,
}

/// The ledger of a generated shop, by source name as in `config/agora.toml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShopManifest {
    pub seed: u64,
    pub sources: BTreeMap<String, Expected>,
}

/// How one written row must end.
enum Outcome {
    Accepted,
    Duplicate,
    Quarantined(&'static str),
}

impl Expected {
    /// Records one row: its outcome, whether it reaches field mapping, and its absent fields.
    fn count(&mut self, outcome: Outcome, mapped: bool, absent: &[&str]) {
        self.read += 1;
        match outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Quarantined(reason) => *self.quarantined.entry(reason.to_string()).or_default() += 1,
        }
        if mapped {
            for field in absent {
                *self.missing.entry(field.to_string()).or_default() += 1;
            }
        }
    }

    fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
        *map.entry(key.to_string()).or_default() += 1;
    }
}

/// One year in milliseconds: how long the generated shop's history spans.
const YEAR_MS: i64 = 365 * 86_400_000;

const BRANDS: [&str; 8] = ["Lumière", "Nordwind", "Acme", "Okra & Co", "Bluebell", "Kōgen", "Atlas", "Verde"];
const CATEGORIES: [&str; 6] =
    ["Beauty > Skin care", "Beauty > Hair", "Sports > Running", "Sports > Outdoor", "Home > Kitchen", "Home > Garden"];
const NOUNS: [&str; 10] = ["cream", "serum", "shoe", "tent", "kettle", "rake", "shampoo", "jacket", "pan", "lamp"];
const COLORS: [&str; 5] = ["red", "blue", "black", "white", "green"];
const KINDS: [&str; 2] = ["view", "click"];

/// Writes the shop into `dir` and returns its ledger (also written as `manifest.json`).
///
/// # Errors
/// Any I/O error writing the files.
pub fn generate_shop(dir: &Path, seed: u64, size: ShopSize) -> std::io::Result<ShopManifest> {
    std::fs::create_dir_all(dir)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut manifest = ShopManifest { seed, sources: BTreeMap::new() };
    manifest.sources.insert("catalog".into(), write_catalog(&dir.join("catalog.csv"), &mut rng, size)?);
    manifest.sources.insert("events".into(), write_events(&dir.join("events.jsonl"), &mut rng, size)?);
    manifest.sources.insert("orders".into(), write_orders(&dir.join("orders.csv"), &mut rng, size)?);
    manifest.sources.insert("faq".into(), write_faq(&dir.join("faq.jsonl"))?);
    let ledger = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("manifest.json"), ledger)?;
    Ok(manifest)
}

/// The demo shop's customer-service knowledge base, written by hand (see data/shop/SOURCE.md).
const FAQ: &str = include_str!("../data/shop/faq.jsonl");

/// Writes the FAQ knowledge base; every entry is valid.
fn write_faq(path: &Path) -> std::io::Result<Expected> {
    std::fs::write(path, FAQ)?;
    let entries = FAQ.lines().filter(|line| !line.trim().is_empty()).count() as u64;
    Ok(Expected { read: entries, accepted: entries, ..Expected::default() })
}

/// An item id as a source spells it: the catalogue writes `SKU-00042`, others vary.
fn item_variant(rng: &mut StdRng, item: usize) -> String {
    match rng.gen_range(0..4) {
        0 => format!("SKU-{item:05}"),
        1 => format!("sku-{item}"),
        2 => format!("{item:05}"),
        _ => format!("{item}"),
    }
}

fn csv_field(text: &str, delimiter: char) -> String {
    if text.contains(delimiter) || text.contains('"') || text.contains('\n') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn write_catalog(path: &Path, rng: &mut StdRng, size: ShopSize) -> std::io::Result<Expected> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut expected = Expected::default();
    writeln!(out, "sku,name,description,brand,category_path,price,in_stock,color,size")?;
    let mut written: Vec<Vec<u8>> = Vec::new();
    for item in 1..=size.items {
        let brand = BRANDS[rng.gen_range(0..BRANDS.len())];
        let noun = NOUNS[rng.gen_range(0..NOUNS.len())];
        let mut name = format!("{brand} {noun} {item}");
        let mut description = format!("A {noun} by {brand}, \"made to last\",  with   care.");
        let mut sku = format!("SKU-{item:05}");
        let mut price = format!("{:.2}", rng.gen_range(5.0..80.0));
        let mut brand_cell = brand.to_string();
        let mut absent: Vec<&str> = Vec::new();
        let mut outcome = Outcome::Accepted;
        let mut raw_suffix: Option<Vec<u8>> = None;
        let dirty = item > 20 && rng.gen_bool(size.dirty_rate);
        if dirty {
            match rng.gen_range(0..8) {
                0 => {
                    sku.clear();
                    absent.push("item_id");
                    outcome = Outcome::Quarantined("missing_field");
                }
                1 => {
                    price = "twelve".into();
                    outcome = Outcome::Quarantined("invalid_type");
                }
                2 => {
                    description = "x".repeat(10_050);
                    outcome = Outcome::Quarantined("field_too_long");
                }
                3 => {
                    raw_suffix = Some(b"caf\xe9 cr\xe8me".to_vec());
                    outcome = Outcome::Quarantined("invalid_utf8");
                }
                4 => {
                    price.clear();
                    absent.push("price");
                    Expected::bump(&mut expected.filled, "price");
                }
                5 => {
                    price = "99999.00".into();
                    Expected::bump(&mut expected.outliers, "price");
                }
                6 => {
                    brand_cell.clear();
                    absent.push("brand");
                }
                _ => {
                    name = format!("  {brand} &amp; friends\t{noun}  {item} ");
                    price = format!("${price}");
                }
            }
        }
        let mapped = !matches!(outcome, Outcome::Quarantined("invalid_utf8"));
        let mut row = format!(
            "{},{},{},{},{},{},{},{},{}",
            sku,
            csv_field(&name, ','),
            csv_field(&description, ','),
            csv_field(&brand_cell, ','),
            CATEGORIES[item % CATEGORIES.len()],
            csv_field(&price, ','),
            if rng.gen_bool(0.9) { "yes" } else { "no" },
            COLORS[rng.gen_range(0..COLORS.len())],
            ["S", "M", "L"][rng.gen_range(0..3)],
        )
        .into_bytes();
        if let Some(bad) = raw_suffix {
            // Replace the name cell with bytes that are not UTF-8.
            let text = String::from_utf8_lossy(&row).into_owned();
            let mut cells: Vec<Vec<u8>> = text.splitn(3, ',').map(|cell| cell.as_bytes().to_vec()).collect();
            cells[1] = bad;
            row = cells.join(&b","[..]);
        }
        row.push(b'\n');
        out.write_all(&row)?;
        expected.count(outcome, mapped, &absent);
        if !dirty && rng.gen_bool(size.dirty_rate / 4.0) {
            written.push(row);
        }
    }
    // Exact duplicates of clean rows, appended at the end as a re-sent feed would.
    for row in written {
        out.write_all(&row)?;
        expected.count(Outcome::Duplicate, true, &[]);
    }
    out.flush()?;
    Ok(expected)
}

fn write_events(path: &Path, rng: &mut StdRng, size: ShopSize) -> std::io::Result<Expected> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut expected = Expected::default();
    let start_ms: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
                                           // The last accepted line and its absent fields (a duplicate of it misses the same ones).
    let mut previous: Option<(String, Vec<&str>)> = None;
    // Events come in visits (bursts of 1-5 events by one user on one item: view, view or click,
    // cart, purchase, view), spread over a year. Slots are at least a minute apart and events
    // of a visit 45 s apart, so every clean event has its own second and is distinct.
    let spacing_ms = (YEAR_MS / size.events.max(1) as i64).max(60_000);
    let (mut visit_start, mut visit_len, mut user, mut item) = (0usize, 0usize, 1usize, 1usize);
    for n in 0..size.events {
        if n >= visit_start + visit_len {
            visit_start = n;
            visit_len = rng.gen_range(1..=5);
            user = rng.gen_range(1..=size.items.max(2) / 2 + 50);
            item = rng.gen_range(1..=size.items.max(1));
        }
        let step = n - visit_start;
        let kind = match step {
            0 => "view",
            1 => KINDS[rng.gen_range(0..2)],
            2 => "cart",
            3 => "purchase",
            _ => "view",
        };
        let ts_ms = start_ms + visit_start as i64 * spacing_ms + step as i64 * 45_000 + rng.gen_range(0..30) * 1000;
        let ts = match rng.gen_range(0..5) {
            0 => format!("\"{}\"", iso(ts_ms, "Z")),
            1 => format!("\"{}\"", iso(ts_ms + 2 * 3_600_000, "+02:00")),
            2 => format!("\"{}\"", iso(ts_ms, "")), // zone-less: the source's zone (UTC) applies
            3 => format!("{}", ts_ms / 1000),
            _ => format!("{ts_ms}"),
        };
        let mut session = format!("s{user}-{visit_start}");
        let item_id = item_variant(rng, item);
        let mut user_json = format!("{{\"id\":\"u{user}\"}}");
        let mut absent: Vec<&str> = vec!["value"];
        // Every fourth visit of two steps or more starts anonymous (no user, only the session)
        // and logs in at its second step: identity stitching attributes the first to the user.
        if step == 0 && visit_len >= 2 && visit_start % 4 == 1 {
            user_json = "{}".into();
            absent.push("user_id");
        }
        let mut kind_text = kind.to_string();
        let mut ts_json = ts;
        let mut value_json = String::new();
        let mut outcome = Outcome::Accepted;
        let mut mapped = true;
        let dirty = rng.gen_bool(size.dirty_rate);
        let mut line: Option<Vec<u8>> = None;
        if dirty {
            match rng.gen_range(0..7) {
                0 if previous.is_some() => {
                    let (copy, copy_absent) = previous.clone().unwrap_or_default();
                    out.write_all(copy.as_bytes())?;
                    expected.count(Outcome::Duplicate, true, &copy_absent);
                    continue;
                }
                1 => {
                    line = Some(format!("{{\"user\": {{\"id\": \"u{user}\"}}, \"item\": \"{item_id}\", \"type\":\n").into_bytes());
                    outcome = Outcome::Quarantined("malformed_json");
                    mapped = false;
                }
                2 => {
                    let mut bytes = format!("{{\"user\":{{\"id\":\"u{user}\"}},\"item\":\"").into_bytes();
                    bytes.extend_from_slice(b"\xff\xfe");
                    bytes.extend_from_slice(b"\",\"type\":\"view\"}\n");
                    line = Some(bytes);
                    outcome = Outcome::Quarantined("invalid_utf8");
                    mapped = false;
                }
                3 => {
                    // Neither a user nor a session: not even an anonymous event.
                    user_json = "{\"id\":\"  \"}".into();
                    session.clear();
                    absent.retain(|field| *field != "user_id");
                    absent.extend(["user_id", "session"]);
                    outcome = Outcome::Quarantined("missing_field");
                }
                4 => {
                    ts_json = "\"yesterday\"".into();
                    outcome = Outcome::Quarantined("invalid_timestamp");
                }
                5 => {
                    kind_text = "hover".into();
                    outcome = Outcome::Quarantined("invalid_value");
                }
                _ => {
                    value_json = ",\"value\":\"five stars\"".into();
                    absent.retain(|field| *field != "value");
                    outcome = Outcome::Quarantined("invalid_type");
                }
            }
        }
        let text = match line {
            Some(bytes) => bytes,
            None => format!(
                "{{\"user\":{user_json},\"item\":\"{item_id}\",\"type\":\"{kind_text}\",\"ts\":{ts_json},\"session\":\"{session}\"{value_json}}}\n"
            )
            .into_bytes(),
        };
        out.write_all(&text)?;
        if matches!(outcome, Outcome::Accepted) {
            previous = Some((String::from_utf8_lossy(&text).into_owned(), absent.clone()));
        }
        expected.count(outcome, mapped, &absent);
    }
    out.flush()?;
    Ok(expected)
}

fn write_orders(path: &Path, rng: &mut StdRng, size: ShopSize) -> std::io::Result<Expected> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut expected = Expected::default();
    writeln!(out, "order_id;line;customer;sku;qty;unit_price;ordered_at;status")?;
    let start_s: i64 = 1_704_067_200;
    let mut previous: Option<(String, String)> = None;
    let mut line_no = 0;
    let mut order = 1000;
    // Orders spread over a year, whole minutes apart (the export has minute precision).
    let spacing_s = (YEAR_MS / 1000 / size.orders.max(1) as i64 / 60).clamp(1, 210) * 60;
    for n in 0..size.orders {
        if line_no == 0 || rng.gen_bool(0.5) {
            order += 1;
            line_no = 0;
        }
        line_no += 1;
        let user = rng.gen_range(1..=size.items.max(2) / 2 + 50);
        let item = rng.gen_range(1..=size.items.max(1));
        let when = start_s + n as i64 * spacing_s;
        let mut ts = if rng.gen_bool(0.5) { paris_text(when) } else { iso(when * 1000, "Z") };
        let mut qty = format!("{}", rng.gen_range(1..=5));
        let mut customer = format!("U{user}");
        let price = if rng.gen_bool(0.9) { format!("{:.2}", rng.gen_range(5.0..80.0)).replace('.', ",") } else { String::new() };
        let mut absent: Vec<&str> = if price.is_empty() { vec!["unit_price"] } else { Vec::new() };
        let mut outcome = Outcome::Accepted;
        let mut mapped = true;
        let mut extra = String::new();
        let key = (order.to_string(), line_no.to_string());
        if rng.gen_bool(size.dirty_rate) {
            match rng.gen_range(0..7) {
                0 if previous.is_some() => {
                    let (order_id, line) = previous.clone().unwrap_or_default();
                    writeln!(out, "{order_id};{line};U{user};{};2;9,99;{};refunded", item_variant(rng, item), iso(when * 1000, "Z"))?;
                    expected.count(Outcome::Duplicate, true, &[]);
                    continue;
                }
                1 => {
                    qty = "two".into();
                    outcome = Outcome::Quarantined("invalid_type");
                }
                2 => {
                    qty = "0".into();
                    outcome = Outcome::Quarantined("invalid_value");
                }
                3 => {
                    customer.clear();
                    absent.push("user_id");
                    outcome = Outcome::Quarantined("missing_field");
                }
                4 => {
                    ts = "31/02/2024 10:00".into();
                    outcome = Outcome::Quarantined("invalid_timestamp");
                }
                5 => {
                    extra = ";unexpected".into();
                    outcome = Outcome::Quarantined("wrong_field_count");
                    mapped = false;
                }
                _ => {
                    qty = "500".into();
                    Expected::bump(&mut expected.outliers, "quantity");
                }
            }
        }
        writeln!(out, "{};{};{customer};{};{qty};{price};{ts};paid{extra}", key.0, key.1, item_variant(rng, item))?;
        if matches!(outcome, Outcome::Accepted) {
            previous = Some(key);
        }
        expected.count(outcome, mapped, &absent);
    }
    out.flush()?;
    Ok(expected)
}

/// `2024-01-02T03:04:05` plus a zone suffix, for UTC milliseconds (shifted by the caller).
fn iso(ms: i64, zone: &str) -> String {
    let time = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!("{}{zone}", time.format("%Y-%m-%dT%H:%M:%S"))
}

/// `dd/mm/YYYY HH:MM` wall-clock time in Europe/Paris, as the orders export writes it.
fn paris_text(epoch_s: i64) -> String {
    // The orders source declares timezone Europe/Paris: winter UTC+1, summer UTC+2. To stay
    // unambiguous, shift by the offset in force at that instant.
    let time = chrono::DateTime::from_timestamp(epoch_s, 0).unwrap_or_default();
    let offset_hours = if is_paris_summer(epoch_s) { 2 } else { 1 };
    (time + chrono::Duration::hours(offset_hours)).format("%d/%m/%Y %H:%M").to_string()
}

/// EU summer time: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC.
fn is_paris_summer(epoch_s: i64) -> bool {
    use chrono::{Datelike, NaiveDate, Weekday};
    let time = chrono::DateTime::from_timestamp(epoch_s, 0).unwrap_or_default();
    let year = time.year();
    let last_sunday = |month: u32| {
        let mut day = NaiveDate::from_ymd_opt(year, month, 31).unwrap_or_default();
        while day.weekday() != Weekday::Sun {
            day = day.pred_opt().unwrap_or(day);
        }
        day.and_hms_opt(1, 0, 0).unwrap_or_default().and_utc().timestamp()
    };
    epoch_s >= last_sunday(3) && epoch_s < last_sunday(10)
}
