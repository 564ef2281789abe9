//! Hexadecimal helpers for the command line and the test vectors.
//!
//! Keys, `enc` values and ciphertexts travel on command lines and in JSON test
//! vectors as hex. [`parse_hex`] turns such a string into bytes and, when a
//! length is expected, says precisely what was wrong, naming the argument.
//! The codec itself is the `hex` crate's; this module only words the errors.

use ::hex::FromHexError;

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
    let out = ::hex::decode(text).map_err(|error| {
        SealingError::InvalidInput(match error {
            FromHexError::OddLength => {
                format!("{label}: odd number of hex digits ({})", text.len())
            }
            FromHexError::InvalidHexCharacter { index, .. } => {
                // `hex` reports the offending byte as a char; show the character of the
                // text that starts there (a multi-byte one is never cut in half).
                let shown = text
                    .get(index..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('?');
                format!("{label}: not a hex digit {shown:?} at position {index}")
            }
            // Only decoding into a fixed-size array reports this one.
            FromHexError::InvalidStringLength => format!("{label}: {error}"),
        })
    })?;
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
    ::hex::encode(bytes)
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
        // "é0" above has an odd number of bytes; these even ones reach the digit check.
        assert_eq!(
            parse_hex("enc", "0é0", None),
            Err(SealingError::InvalidInput(
                "enc: not a hex digit 'é' at position 1".into()
            ))
        );
        assert_eq!(
            parse_hex("enc", "00é", None),
            Err(SealingError::InvalidInput(
                "enc: not a hex digit 'é' at position 2".into()
            ))
        );
    }
}
