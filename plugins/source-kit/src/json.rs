//! Fast JSON string output for the hot path: the same bytes as
//! [`agora_plugin_api::push_json_string`], copied in runs instead of character by character.

/// Appends `text` as a quoted, escaped JSON string.
pub fn push_json_str(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run_start = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        // Multi-byte UTF-8 sequences only hold bytes >= 0x80, which never need escaping.
        let escaped: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..at]);
        out.extend_from_slice(escaped);
        run_start = at + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_plugin_api::push_json_string;

    #[test]
    fn output_equals_the_plugin_api_encoder() {
        let mut samples: Vec<String> = (0u32..0x80).map(|c| format!("a{}b", char::from_u32(c).unwrap())).collect();
        samples.extend(["", "plain", "é日本\u{1f600}\u{2028}", "\"quoted\"\\path\\", "\u{7f}\u{1f}\u{0}x"].map(String::from));
        for sample in samples {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            push_json_str(&mut ours, &sample);
            push_json_string(&mut theirs, &sample);
            assert_eq!(ours, theirs, "{sample:?}");
            assert_eq!(serde_json::from_slice::<String>(&ours).unwrap(), sample);
        }
    }
}
