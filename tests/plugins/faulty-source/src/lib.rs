//! A test-only source plugin that misbehaves on command: it emits numbered event records and
//! panics, errors or hangs at a chosen poll, so the supervisor's restarts can be tested.
//!
//! Params: `{"records": N, "fail_at_record": K, "mode": "panic" | "error" | "hang", "marker": "/path"}`.
//! It fails when a poll would pass record K, unless the `marker` file exists; it creates the
//! marker when failing, so the restarted instance gets through (a transient fault).

use agora_plugin_api::{export_source, push_record_line, PollResult, SourcePlugin};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    records: u64,
    fail_at_record: u64,
    mode: String,
    marker: Option<String>,
}

struct Faulty {
    params: Params,
}

impl SourcePlugin for Faulty {
    fn open(config: &[u8], _checkpoint: &[u8]) -> Result<Self, String> {
        let params: Params = serde_json::from_slice(config).map_err(|err| format!("bad params: {err}"))?;
        Ok(Self { params })
    }

    fn poll(&mut self, max_records: u32, checkpoint: &[u8]) -> Result<PollResult, String> {
        let start: u64 = if checkpoint.is_empty() {
            0
        } else {
            std::str::from_utf8(checkpoint).map_err(|_| "bad checkpoint")?.parse().map_err(|_| "bad checkpoint")?
        };
        let end = (start + u64::from(max_records)).min(self.params.records);
        let armed = self.params.marker.as_deref().is_none_or(|marker| !std::path::Path::new(marker).exists());
        if armed && start <= self.params.fail_at_record && self.params.fail_at_record < end {
            if let Some(marker) = &self.params.marker {
                std::fs::write(marker, b"failed once").map_err(|err| err.to_string())?;
            }
            match self.params.mode.as_str() {
                "panic" => panic!("planted panic at record {}", self.params.fail_at_record),
                "hang" => std::thread::sleep(std::time::Duration::from_secs(3600)),
                _ => return Err(format!("planted error at record {}", self.params.fail_at_record)),
            }
        }
        let mut batch = Vec::new();
        for n in start..end {
            let fields = format!("{{\"user\":\"u{}\",\"item\":\"i{}\",\"type\":\"view\",\"ts\":{}}}", n % 7, n, 1_704_067_200 + n);
            push_record_line(&mut batch, &format!("faulty@{n}"), &fields);
        }
        Ok(PollResult {
            batch,
            records: end - start,
            checkpoint: end.to_string().into_bytes(),
            progress: (end, self.params.records),
            caught_up: end == self.params.records,
        })
    }
}

export_source! {
    plugin: Faulty,
    name: "faulty",
    version: "0.1.0",
    capabilities: "test",
    description: "panics, errors or hangs on command (tests only)",
}
