//! Reading command inputs safely and printing canonical JSON.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::Read;
use std::path::Path;
use switchboard_pipeline::plugins::translator::{Encoded, HttpMethod, SendRequest};

/// Reads a file (or stdin for `-`), refusing one larger than `max_bytes`
/// without reading more than one byte past the limit.
pub fn read_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )
    };
    reader
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > max_bytes {
        let name = if path == Path::new("-") {
            "stdin".to_string()
        } else {
            path.display().to_string()
        };
        bail!("{name} is larger than {max_bytes} bytes");
    }
    Ok(bytes)
}

/// Reads canonical JSON: one envelope or a list of them (what `decode` prints).
pub fn parse_envelopes<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>> {
    let value: Value = serde_json::from_slice(bytes).context("input is not valid JSON")?;
    let items = match value {
        Value::Array(items) => items,
        other @ Value::Object(_) => vec![other],
        _ => bail!("input must be a canonical envelope (a JSON object) or a list of them"),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            serde_json::from_value(item)
                .with_context(|| format!("envelope {index} is not a canonical envelope"))
        })
        .collect()
}

/// A send request as readable JSON: the body parsed when it is JSON.
pub fn request_json(request: &SendRequest) -> Value {
    let method = match request.method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
    };
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let body = serde_json::from_slice::<Value>(&request.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&request.body).into_owned()));
    json!({ "method": method, "path": request.path, "headers": headers, "body": body })
}

/// The requests and degradations for one envelope, as printed by `encode`.
pub fn encoded_json(envelope_id: &str, platform: &str, encoded: &Encoded) -> Value {
    json!({
        "envelope": envelope_id,
        "platform": platform,
        "requests": encoded.requests.iter().map(request_json).collect::<Vec<_>>(),
        "degradations": encoded.degradations,
    })
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot render JSON")?;
    println!("{text}");
    Ok(())
}
