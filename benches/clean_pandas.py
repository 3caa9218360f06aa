"""The pandas peer of `agora bench ingest`: the same ingestion cleaning, written in pandas.

    .venv/bin/python benches/clean_pandas.py SHOP_DIR      (scripts/setup-python.sh makes .venv)

SHOP_DIR holds a shop written by `agora generate shop` (catalog.csv, events.jsonl, orders.csv and
manifest.json). The rules are those of `config/agora.toml` and `core/src/clean/`: field mapping,
id and text normalisation, numbers with currency signs and decimal commas, timestamps to UTC
milliseconds, missing values (reject, impute with the running median, or null), one quarantine
reason per bad row (the first failing field in canonical field order), dedup (first occurrence
wins) and robust-z outliers over the accepted records. Nothing is stored: the Rust side also
commits to sled, so pandas is given the easier job.

It is written to be a fair peer, not a strawman: strings are pandas 3's pyarrow-backed dtype, CSV
is read by the pyarrow engine, and every rule is a column-wise operation. Only what pandas has no
vectorised tool for runs per row: validating JSON lines (no pandas reader survives a bad line, so
each line goes through `json`, in chunks to bound memory) and decoding HTML entities.

The script then checks its counts against manifest.json, the generator's own ledger, and exits
non-zero naming every count that differs: the comparison is fair only if pandas provably did the
same work. The per-source comparison goes to stderr; the last stdout line is the JSON result
{"records", "seconds", "records_per_second", "peak_rss_mib"}, where seconds covers reading and
cleaning only (not the interpreter start, the imports or the self-check).
"""
import codecs
import html
import io
import itertools
import json
import resource
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

try:  # pyarrow backs pandas' string dtype and its fastest CSV reader; setup-python.sh installs all three
    import numpy as np
    import pandas as pd
    import pyarrow  # noqa: F401
except ImportError as err:
    sys.exit(f"benches/clean_pandas.py needs pandas and pyarrow ({err}): run scripts/setup-python.sh")

MAX_TEXT = 10_000
MISSING = ["", "null", "none", "n/a", "nan"]
REASONS = ["invalid_utf8", "malformed_json", "wrong_field_count", "missing_field", "invalid_type",
           "invalid_timestamp", "invalid_value", "field_too_long"]
KINDS = {**dict.fromkeys(["view", "page_view", "pageview", "detail"], "view"), "click": "click",
         **dict.fromkeys(["cart", "add_to_cart", "addtocart"], "cart"), "review": "review",
         **dict.fromkeys(["purchase", "buy", "transaction", "order"], "purchase"),
         **dict.fromkeys(["rating", "rate"], "rating")}
BOOLS = {**dict.fromkeys(["true", "yes", "y", "t", "1", "in_stock", "available"], True),
         **dict.fromkeys(["false", "no", "n", "f", "0", "out_of_stock", "unavailable"], False)}
MAX_MS = 4_102_444_800_000  # 2100-01-01
FLOAT = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
WHITESPACE = "[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"  # Unicode White_Space
EPOCH = pd.Timestamp(0, tz="UTC")
ISO_ZONED = r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:?\d\d)"  # the forms chrono reads
ISO_LOCAL = r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?"


# ---- value rules (core/src/clean/text.rs, timestamp.rs); NaN in, NaN out -----------------------
def norm_text(s):
    """HTML entities decoded, whitespace runs collapsed, trimmed, NFC."""
    amp = s.str.contains("&", regex=False, na=False)
    if amp.any():
        s = s.where(~amp, s[amp].map(html.unescape))
    s = s.str.replace(WHITESPACE, " ", regex=True).str.strip()
    other = ~s.str.isascii().astype(bool)  # NFC only where there is anything but ASCII
    return s.where(~other, s[other].str.normalize("NFC")) if other.any() else s


def norm_id(s):
    """Trimmed, `sku-` stripped, leading zeros of all-digit ids trimmed, lower-cased; '' is absent."""
    s = s.str.strip().str.replace(r"^(?i:sku-)", "", regex=True)
    digits = s.str.fullmatch(r"[0-9]+", na=False)
    s = s.where(~digits, s.str.lstrip("0").replace("", "0")).str.lower()
    return s.where(s != "")


def to_float(t):
    """Text in Rust's f64 grammar to floats: a regex check, then one vectorised cast; NaN otherwise."""
    ok = t.str.fullmatch(FLOAT, na=False)
    out = pd.Series(np.nan, index=t.index)
    out[ok] = t[ok].astype("float64")
    return out.where(np.isfinite(out))


def parse_number(s):
    """`12.5`, `$1,299.00`, `24,84`, `12,50 €`; NaN where not a finite number."""
    out = to_float(s)  # plain numbers: most of them
    slow = out.isna() & s.notna()
    if slow.any():
        t = s[slow].str.strip().str.replace("[$€£¥ \xa0_]", "", regex=True)
        code = t.str.contains("USD|EUR")
        if code.any():
            t[code] = t[code].str.replace("^(?:USD)*(?:EUR)*|(?:EUR)*(?:USD)*$", "", regex=True)
        thousands = t.str.contains(".", regex=False) | t.str.match(".+,[^,]{3}$")  # else a decimal comma
        out[slow] = to_float(t.where(~thousands, t.str.replace(",", "")).where(thousands, t.str.replace(",", ".")))
    return out


def from_epoch(x):
    """Epoch seconds (below 1e11) or milliseconds to ms; NaN outside 1970..2100."""
    ms = np.floor(x.where(x.abs() >= 1e11, x * 1000) + 0.5)
    return ms.where((ms >= 0) & (ms <= MAX_MS))


def parse_ts(s, zone, formats=()):
    """ISO-8601 (zone-less ones in `zone`), epoch numbers, then the configured strptime formats."""
    t, out = s.str.strip(), pd.Series(np.nan, index=s.index)
    epoch = t.str.fullmatch(r"[0-9.\-]+", na=False)
    epoch[epoch] = t[epoch].str.count(r"[0-9]") >= 9
    out[epoch] = from_epoch(to_float(t[epoch]))
    aware = out.isna() & t.str.fullmatch(ISO_ZONED, na=False)
    naive = out.isna() & t.str.fullmatch(ISO_LOCAL, na=False)
    out[aware] = ms_of(pd.to_datetime(t[aware], format="ISO8601", utc=True, errors="coerce"))
    out[naive] = ms_of(pd.to_datetime(t[naive], format="ISO8601", errors="coerce"), zone)
    for fmt in formats:
        todo = out.isna() & t.notna()
        out[todo] = ms_of(pd.to_datetime(t[todo], format=fmt, errors="coerce"), zone)
    return out.where((out >= 0) & (out <= MAX_MS))


def ms_of(dt, zone=None):
    """UTC milliseconds of datetimes, zone-less ones placed in `zone` (a DST fold takes the earlier)."""
    if zone is not None:
        dt = dt.dt.tz_localize(zone, ambiguous=np.ones(len(dt), bool), nonexistent="NaT")
    return (dt - EPOCH) // pd.Timedelta(milliseconds=1)


# ---- field coercions: text (and JSON numbers) -> (value, bad mask, reason) ----------------------
def as_id(t, num=None): return norm_id(t), t.isna() & False, None
def as_text(t, num=None): return norm_text(t), t.isna() & False, None
def as_kind(t, num=None): v = lookup(t, KINDS); return v, t.notna() & v.isna(), "invalid_value"
def as_bool(t, num=None): v = lookup(t, BOOLS); return v, t.notna() & v.isna(), "invalid_type"


def lookup(t, spellings):
    """Maps spellings (trimmed, any case) to values; a category maps each distinct spelling once."""
    return t.str.strip().str.lower().astype("category").map(spellings).astype(object)


def as_number(t, num=None, whole=False):
    v = parse_number(t)
    if whole:
        v = v.where(v % 1 == 0)
    return (v if num is None else v.fillna(num)), t.notna() & v.isna(), "invalid_type"


def as_ts(zone, formats=()):
    def coerce(t, num=None):
        v = parse_ts(t, zone, formats)
        bad = t.notna() & v.isna()
        if num is not None:
            epoch = from_epoch(num)
            bad |= num.notna() & epoch.isna()
            v = v.fillna(epoch)
        return v, bad, "invalid_timestamp"
    return coerce


def as_list(sep):
    def coerce(t, num=None):
        parts = norm_text(t.str.split(sep, regex=False).explode().astype("str"))
        parts = parts[parts.str.len() > 0]  # a list of nothing but blanks is absent
        rows = parts.index.to_numpy()
        lists = np.split(parts.to_numpy(object), np.flatnonzero(np.diff(rows)) + 1) if len(rows) else []
        return pd.Series([list(x) for x in lists], index=np.unique(rows)).reindex(t.index), t.isna() & False, None
    return coerce


class Source:
    """One source's rows on their way through the rules: a quarantine code per row and counts."""

    def __init__(self, frame, read, early):
        self.read = read  # every record read, including those that never reached field mapping
        self.quarantined = Counter(early)  # those, by reason
        self.code = np.zeros(len(frame), np.int8)  # per mapped row: 0, or 1 + its REASONS index
        self.missing, self.filled, self.outliers = Counter(), Counter(), Counter()
        self.accepted = self.duplicates = 0

    def reject(self, mask, reason):
        """Quarantines rows for `reason` unless an earlier field already did."""
        mask = np.asarray(mask, bool) & (self.code == 0)
        if mask.any():
            self.code[mask] = REASONS.index(reason) + 1

    def blank(self, t):
        return t.isna() | t.str.strip().str.lower().isin(MISSING)

    def field(self, name, t, coerce, required=False, num=None, wrong=None):
        """Maps one field: missing values counted, bad ones rejected; returns (values, missing)."""
        blank = self.blank(t) if num is None else self.blank(t) & num.isna()
        long = ~blank & (t.str.len() > MAX_TEXT)
        value, bad, reason = coerce(t.where(~blank & ~long), num)
        wrong = t.isna() & False if wrong is None else wrong
        missing = value.isna() & ~long & ~bad & ~wrong
        self.missing[name] += int(missing.sum())
        self.reject(long, "field_too_long")
        self.reject(bad, reason)
        self.reject(wrong, "invalid_type")
        if required:
            self.reject(missing, "missing_field")
        return value, missing

    def finish(self, cleaned, key):
        """Dedup of the rows that passed (first wins), then robust-z outliers over the accepted."""
        for reason, n in zip(REASONS, np.bincount(self.code, minlength=len(REASONS) + 1)[1:]):
            self.quarantined[reason] += int(n)
        passed = cleaned[self.code == 0]
        accepted = passed[~passed.duplicated(subset=key)]
        self.accepted, self.duplicates = len(accepted), len(passed) - len(accepted)
        return accepted

    def flag_outliers(self, name, values):
        x = values.dropna().to_numpy(float)
        if len(x) >= 8:
            dev = np.abs(x - np.median(x))
            scale = np.median(dev) * 1.4826 or dev.mean() * 1.2533
            self.outliers[name] = int((dev / scale > 3.5).sum()) if scale else 0

    def counts(self):
        nonzero = lambda c: {k: v for k, v in sorted(c.items()) if v}
        return {"read": self.read, "accepted": self.accepted, "duplicates": self.duplicates,
                "quarantined": nonzero(self.quarantined), "missing": nonzero(self.missing),
                "filled": nonzero(self.filled), "outliers": nonzero(self.outliers)}


# ---- readers ------------------------------------------------------------------------------------
def read_csv(path, sep):
    """Rows as strings; returns (frame of rows that reach mapping, rows read, early quarantine)."""
    data, mark = path.read_bytes(), None
    try:  # one whole-file check spares a per-row scan in the common, clean case
        data.decode("utf-8")
    except UnicodeDecodeError:  # bytes that are not UTF-8 become a mark the file does not contain
        mark = next(c for c in "\ufffd\ufdd0\ufdd1\ufdd2\ufdd3" if c.encode() not in data)
        codecs.register_error("agora_mark", lambda err: (mark, err.end))
        data = data.decode("utf-8", "agora_mark").encode()
    with warnings.catch_warnings(record=True) as caught:  # pyarrow warns per row of the wrong width
        warnings.simplefilter("always", pd.errors.ParserWarning)
        df = pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False, engine="pyarrow",
                         on_bad_lines="warn")
    early = Counter(wrong_field_count=sum(1 for w in caught if str(w.message).startswith("Expected ")))
    read = len(df) + early["wrong_field_count"]
    if mark:  # rows with bytes that are not UTF-8 never reach mapping
        bad = np.logical_or.reduce([df[c].str.contains(mark, regex=False) for c in df])
        df, early["invalid_utf8"] = df[~bad].reset_index(drop=True), int(bad.sum())
    return df, read, early


def column(df, name):
    return df[name] if name in df else pd.Series(np.nan, index=df.index, dtype="str")


def clean_catalog(path):
    df, read, early = read_csv(path, ",")
    src = Source(df, read, early)
    out = pd.DataFrame(index=df.index)
    out["item_id"], _ = src.field("item_id", column(df, "sku"), as_id, required=True)
    out["title"], _ = src.field("title", column(df, "name"), as_text)
    out["description"], _ = src.field("description", column(df, "description"), as_text)
    out["brand"], _ = src.field("brand", column(df, "brand"), as_text)
    out["categories"], _ = src.field("categories", column(df, "category_path"), as_list(">"))
    price, missing = src.field("price", column(df, "price"), as_number)
    median = price.expanding().median().shift(1).round(2)  # the running median of prices seen so far
    src.filled["price"] = int((missing & median.notna()).sum())
    src.reject(missing & median.isna(), "missing_field")
    out["price"] = price.fillna(median.where(missing))
    out["available"], _ = src.field("available", column(df, "in_stock"), as_bool)
    attrs = {c: column(df, c) for c in ("color", "size")}  # attributes: kept as one column each
    blank = {c: src.blank(t) for c, t in attrs.items()}
    src.missing["attributes"] += int(np.logical_and.reduce(list(blank.values())).sum())
    src.reject(np.logical_or.reduce([~blank[c] & (t.str.len() > MAX_TEXT) for c, t in attrs.items()]), "field_too_long")
    for c, t in attrs.items():
        out[f"attr_{c}"] = norm_text(t.where(~blank[c]))
    src.reject(out["price"] < 0, "invalid_value")
    accepted = src.finish(out, ["item_id"])
    src.flag_outliers("price", accepted["price"])
    return src


def parse_line(raw, decoder=json.JSONDecoder(parse_constant=lambda c: float("x"))):
    """A JSON object, or why the line is not one (None: a blank line, which is no record)."""
    try:
        text = raw.decode().removeprefix("\ufeff")
    except UnicodeDecodeError:
        return "invalid_utf8"
    if not text.strip():
        return None
    try:
        record = decoder.decode(text)
    except ValueError:
        return "malformed_json"
    return record if isinstance(record, dict) else "malformed_json"


def json_column(values):
    """A JSON-valued column as text (strings, and numbers as their JSON), numbers, and other types."""
    if values.dtype == "str":  # pandas saw nothing but strings (and absent keys)
        return values, pd.Series(np.nan, index=values.index), pd.Series(False, index=values.index)
    types = values.map(type)
    other = types.isin([bool, dict, list])
    number = values.where(types.isin([int, float]))
    return values.where(~other).astype("str"), pd.to_numeric(number), other


def read_jsonl(path, chunk=50_000):
    """The JSON objects' values as typed columns: KEY (text), KEY#number and KEY#other (bool, object,
    array). Nested `user.id` is flattened. Chunks keep the per-line Python objects few at a time."""
    frames, early = [], Counter()
    with path.open("rb") as lines:
        while parsed := [parse_line(raw) for raw in itertools.islice(lines, chunk)]:
            early.update(p for p in parsed if isinstance(p, str))
            frame = pd.DataFrame([p for p in parsed if isinstance(p, dict)])
            if "user" in frame:
                frame["user.id"] = frame.pop("user").map(lambda u: u.get("id") if isinstance(u, dict) else None)
            typed = {}
            for key in frame:
                typed[key], typed[f"{key}#number"], typed[f"{key}#other"] = json_column(frame[key])
            frames.append(pd.DataFrame(typed))
    df = pd.concat(frames, ignore_index=True)
    return df, len(df) + sum(early.values()), early


def clean_events(path):
    df, read, early = read_jsonl(path)
    src = Source(df, read, early)
    out = pd.DataFrame(index=df.index)
    rules = {"user_id": ("user.id", as_id, True), "item_id": ("item", as_id, True), "kind": ("type", as_kind, True),
             "value": ("value", as_number, False), "ts": ("ts", as_ts("UTC"), True),
             "session": ("session", as_text, False)}
    def columns(key):
        if key not in df:
            return json_column(pd.Series(np.nan, index=df.index, dtype="str"))
        return df[key], df[f"{key}#number"], df[f"{key}#other"]

    # An event with a valid session but no user is anonymous (user "anon:<session>"), not invalid.
    scratch = Source(df, read, {})
    text, _, other = columns("session")
    session, _ = scratch.field("session", text, as_text, wrong=other)
    has_session = session.notna() & (scratch.code == 0)
    for name, (key, coerce, required) in rules.items():
        text, num, other = columns(key)
        if name in ("value", "ts"):  # JSON numbers are taken as numbers, the rest as text
            out[name], _ = src.field(name, text.where(num.isna()), coerce, required, num=num, wrong=other)
        elif name == "user_id":
            value, missing = src.field(name, text, coerce, wrong=other)
            src.reject(missing & ~has_session, "missing_field")
            out[name] = value.where(~(missing & has_session), "anon:" + session)
        else:
            out[name], _ = src.field(name, text, coerce, required, wrong=other)
    src.finish(out, list(out.columns))  # no dedup key: a duplicate repeats the whole content
    return src


def clean_orders(path):
    df, read, early = read_csv(path, ";")
    src = Source(df, read, early)
    out = pd.DataFrame(index=df.index)
    out["order_id"], _ = src.field("order_id", column(df, "order_id"), as_id, required=True)
    out["line"], _ = src.field("line", column(df, "line"), lambda t, n: as_number(t, n, whole=True))
    out["user_id"], _ = src.field("user_id", column(df, "customer"), as_id, required=True)
    out["item_id"], _ = src.field("item_id", column(df, "sku"), as_id, required=True)
    out["quantity"], _ = src.field("quantity", column(df, "qty"), as_number, required=True)
    out["unit_price"], _ = src.field("unit_price", column(df, "unit_price"), as_number)
    out["ts"], _ = src.field("ts", column(df, "ordered_at"), as_ts("Europe/Paris", ["%d/%m/%Y %H:%M"]), required=True)
    out["status"], _ = src.field("status", column(df, "status"), as_text)
    src.reject((out["quantity"] <= 0) | (out["unit_price"] < 0), "invalid_value")
    accepted = src.finish(out, ["order_id", "line"])
    src.flag_outliers("quantity", accepted["quantity"])
    src.flag_outliers("unit_price", accepted["unit_price"])
    return src


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python benches/clean_pandas.py SHOP_DIR")
    shop = Path(sys.argv[1])
    started = time.perf_counter()
    sources = {"catalog": clean_catalog(shop / "catalog.csv"), "events": clean_events(shop / "events.jsonl"),
               "orders": clean_orders(shop / "orders.csv")}
    seconds = time.perf_counter() - started

    ledger = json.loads((shop / "manifest.json").read_text())["sources"]
    differences = []
    for name, src in sources.items():
        ours, expected = src.counts(), ledger[name]
        print(f"[{name}]", file=sys.stderr)
        for key, value in ours.items():
            want = expected.get(key, {}) if isinstance(value, dict) else expected.get(key)
            want = {k: v for k, v in want.items() if v} if isinstance(want, dict) else want
            ok = value == want
            print(f"  {key:<12} {'ok' if ok else 'DIFFERS':<8} pandas={value} ledger={want}", file=sys.stderr)
            if not ok:
                differences.append(f"{name}.{key}: pandas {value}, ledger {want}")
    if differences:
        sys.exit("pandas cleaning does not match the generator's ledger:\n  " + "\n  ".join(differences))

    records = sum(src.read for src in sources.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": records, "seconds": round(seconds, 4),
                      "records_per_second": round(records / seconds, 1), "peak_rss_mib": round(peak, 1)}))


if __name__ == "__main__":
    main()
