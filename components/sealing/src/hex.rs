//! Hexadecimal helpers for the command line and the test vectors.
//!
//! Keys, `enc` values and ciphertexts travel on command lines and in JSON test
//! vectors as hex. [`parse_hex`] turns such a string into bytes and, when a
//! length is expected, says precisely what was wrong, naming the argument.

use crate::error::SealingError;

/// Parses hex text (upper or lower case, surrounding whitespace ignored) into bytes.
///
/// `label` names the argument in the error (for example `pk-r`); `expected_len`,
/// when given, is the number of bytes the value must have. A wrong length is an
/// [`SealingError::InvalidKey`] (the values checked this way are keys and
/// encapsulations), bad digits are [`SealingError::InvalidInput`].
pub fn parse_hex(
    label: &str,
    text: &str,
    expected_len: Option<usize>,
) -> Result<Vec<u8>, SealingError> {
    let text = text.trim();
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(SealingError::InvalidInput(format!(
            "{label}: odd number of hex digits ({})",
            digits.len()
        )));
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    for (index, pair) in digits.chunks_exact(2).enumerate() {
        let high = nibble(pair[0]);
        let low = nibble(pair[1]);
        match (high, low) {
            (Some(h), Some(l)) => out.push((h << 4) | l),
            _ => {
                let bad = if high.is_none() {
                    2 * index
                } else {
                    2 * index + 1
                };
                let shown = text
                    .get(bad..)
                    .and_then(|s| s.chars().next())
                    .unwrap_or('?');
                return Err(SealingError::InvalidInput(format!(
                    "{label}: not a hex digit {shown:?} at position {bad}"
                )));
            }
        }
    }
    if let Some(expected) = expected_len
        && out.len() != expected
    {
        return Err(SealingError::InvalidKey(format!(
            "{label}: expected {expected} bytes ({} hex digits), got {}",
            expected * 2,
            out.len()
        )));
    }
    Ok(out)
}

/// Lower-case hex of `bytes`, the inverse of [`parse_hex`].
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_mixed_case() {
        let bytes = parse_hex("key", " 00fFa5 ", None).unwrap();
        assert_eq!(bytes, vec![0x00, 0xff, 0xa5]);
        assert_eq!(to_hex(&bytes), "00ffa5");
    }

    #[test]
    fn wrong_length_names_the_argument() {
        let text = "ab".repeat(31);
        let err = parse_hex("pk-r", &text, Some(32)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid key: pk-r: expected 32 bytes (64 hex digits), got 31"
        );
    }

    #[test]
    fn bad_digit_and_odd_length_are_invalid_input() {
        let err = parse_hex("enc", "0g", None).unwrap_err();
        assert_eq!(
            err,
            SealingError::InvalidInput("enc: not a hex digit 'g' at position 1".into())
        );
        let err = parse_hex("enc", "abc", None).unwrap_err();
        assert_eq!(
            err,
            SealingError::InvalidInput("enc: odd number of hex digits (3)".into())
        );
        // A multi-byte character must not cause a panic on a char boundary.
        assert!(parse_hex("enc", "é0", None).is_err());
    }
}
