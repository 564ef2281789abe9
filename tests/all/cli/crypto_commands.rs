//! The key and sealing commands (`keys generate`, `seal`, `open`, `hpke seal|open`)
//! as a user runs them: RFC 9180 vectors, round trips and one-line errors.

use crate::switchboard;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The stdout of a run that must succeed.
fn success(output: &Output) -> Vec<u8> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout.clone()
}

fn success_text(output: &Output) -> String {
    String::from_utf8(success(output)).expect("UTF-8 on stdout")
}

/// A run that must fail: non-zero exit, nothing on stdout, and exactly one line
/// on stderr containing every one of `needles`.
fn assert_fails_with(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected a failure with {needles:?}; stderr: {stderr}"
    );
    assert!(output.stdout.is_empty(), "stdout on failure: {output:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("crypto_cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The base-mode vectors of the sealing crate's RFC 9180 file, one per AEAD.
fn base_mode_vectors() -> Vec<Value> {
    let path = crate::repo_root().join("components/sealing/tests/vectors/hpke_test_vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let all: Vec<Value> = serde_json::from_str(&text).expect("the vector file is JSON");
    let base: Vec<Value> = all
        .into_iter()
        .filter(|v| v["mode"] == 0 && v["kem_id"] == 0x20 && v["kdf_id"] == 1)
        .collect();
    let mut aeads: Vec<u64> = base
        .iter()
        .map(|v| v["aead_id"].as_u64().expect("aead_id"))
        .collect();
    aeads.sort_unstable();
    assert_eq!(aeads, [1, 2], "one base-mode vector per AEAD");
    base
}

fn field<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {name}"))
}

fn aead_name(vector: &Value) -> &'static str {
    match vector["aead_id"].as_u64() {
        Some(1) => "aes-128-gcm",
        Some(2) => "aes-256-gcm",
        other => panic!("unexpected aead_id {other:?}"),
    }
}

#[test]
fn hpke_seal_and_open_reproduce_rfc_9180_vectors() {
    for vector in base_mode_vectors() {
        let aead = aead_name(&vector);
        let first = &vector["encryptions"][0];
        // The first encryption of a vector uses the base nonce: sequence number 0.
        assert_eq!(first["nonce"], vector["base_nonce"]);
        let (info, aad, pt, ct) = (
            field(&vector, "info"),
            field(first, "aad"),
            field(first, "pt"),
            field(first, "ct"),
        );
        let sealed = switchboard(
            &[
                "hpke",
                "seal",
                "--aead",
                aead,
                "--pk-r",
                field(&vector, "pkRm"),
                "--sk-e",
                field(&vector, "skEm"),
                "--info",
                info,
                "--aad",
                aad,
                "--pt",
                pt,
            ],
            b"",
        );
        assert_eq!(
            success_text(&sealed),
            format!("{}\n{ct}\n", field(&vector, "enc")),
            "{aead}"
        );

        let open = |sk_r: &str, aad: &str, ct: &str| {
            switchboard(
                &[
                    "hpke",
                    "open",
                    "--aead",
                    aead,
                    "--sk-r",
                    sk_r,
                    "--enc",
                    field(&vector, "enc"),
                    "--info",
                    info,
                    "--aad",
                    aad,
                    "--ct",
                    ct,
                ],
                b"",
            )
        };
        let sk_r = field(&vector, "skRm");
        assert_eq!(success_text(&open(sk_r, aad, ct)), format!("{pt}\n"));
        // Hex is read in either case.
        assert_eq!(
            success_text(&open(&sk_r.to_uppercase(), aad, &ct.to_uppercase())),
            format!("{pt}\n")
        );
        // The second encryption is sealed with sequence number 1: `hpke open`
        // opens only the first message of a context.
        let second = &vector["encryptions"][1];
        assert_fails_with(
            &open(sk_r, field(second, "aad"), field(second, "ct")),
            &["authentication failed"],
        );
        // The recipient's public key is not its secret key.
        assert_fails_with(
            &open(field(&vector, "pkRm"), aad, ct),
            &["authentication failed"],
        );
    }
}

/// `keys generate`, parsed: (public key, secret key).
fn generate_keys() -> (String, String) {
    let printed = success_text(&switchboard(&["keys", "generate"], b""));
    let json: Value = serde_json::from_str(&printed).expect("JSON on stdout");
    let key = |name: &str| {
        let hex = json[name].as_str().expect(name).to_string();
        assert_eq!(hex.len(), 64, "{name}: {hex}");
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{name}: {hex}"
        );
        hex
    };
    let (public, secret) = (key("public_key"), key("secret_key"));
    assert_ne!(public, secret);
    (public, secret)
}

/// Splits what `seal` printed into its enc and ciphertext lines.
fn sealed_lines(text: &str) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    (lines[0].to_string(), lines[1].to_string())
}

#[test]
fn keys_generate_seal_open_round_trip_with_and_without_aad() {
    let dir = scratch("round-trip");
    let (public, secret) = generate_keys();
    let (other_public, other_secret) = generate_keys();
    assert_ne!(public, other_public);
    // Every byte value, NULs, lone CR and LF, invalid UTF-8.
    let plaintext: Vec<u8> = (0..=255u8)
        .rev()
        .chain([0, b'\r', 0xc3, b'\n', 0])
        .collect();
    let plain_file = dir.join("plain.bin");
    std::fs::write(&plain_file, &plaintext).expect("plaintext written");

    for (index, aad) in [None, Some("6865616465722d31")].into_iter().enumerate() {
        let with_aad = |args: &[&str], aad: Option<&str>, file: &str| {
            let mut all = args.to_vec();
            if let Some(aad) = aad {
                all.extend(["--aad", aad]);
            }
            all.push(file);
            all.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let run = |args: Vec<String>, stdin: &[u8]| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            switchboard(&args, stdin)
        };

        let sealed = success_text(&run(
            with_aad(&["seal", "--to", &public], aad, path_str(&plain_file)),
            b"",
        ));
        let (enc, ct) = sealed_lines(&sealed);
        assert_eq!(enc.len(), 64);
        assert_eq!(ct.len(), 2 * (plaintext.len() + 16));
        let sealed_file = dir.join(format!("sealed-{index}.txt"));
        std::fs::write(&sealed_file, &sealed).expect("sealed text written");
        let sealed_path = path_str(&sealed_file);

        // From a file and from stdin, the exact bytes come back.
        let open = |key: &str, aad: Option<&str>, file: &str, stdin: &[u8]| {
            run(with_aad(&["open", "--key", key], aad, file), stdin)
        };
        assert_eq!(success(&open(&secret, aad, sealed_path, b"")), plaintext);
        assert_eq!(
            success(&open(&secret, aad, "-", sealed.as_bytes())),
            plaintext
        );

        // A fresh ephemeral key each time: sealing twice (here from stdin) differs.
        let again = success_text(&run(
            with_aad(&["seal", "--to", &public], aad, "-"),
            &plaintext,
        ));
        let (enc_again, _) = sealed_lines(&again);
        assert_ne!(enc_again, enc);
        assert_eq!(
            success(&open(&secret, aad, "-", again.as_bytes())),
            plaintext
        );

        // Wrong or missing associated data.
        let wrong_aad = match aad {
            Some(_) => [None, Some("6865616465722d32")],
            None => [Some("00"), Some("6865616465722d31")],
        };
        for wrong in wrong_aad {
            assert_fails_with(
                &open(&secret, wrong, sealed_path, b""),
                &["cannot open", "authentication failed"],
            );
        }

        // A flipped ciphertext byte, first, middle and in the tag.
        for position in [0, ct.len() / 2, ct.len() - 1] {
            let mut flipped = ct.clone().into_bytes();
            flipped[position] = if flipped[position] == b'0' {
                b'1'
            } else {
                b'0'
            };
            let tampered = format!("{enc}\n{}\n", String::from_utf8(flipped).expect("hex"));
            assert_fails_with(
                &open(&secret, aad, "-", tampered.as_bytes()),
                &["cannot open stdin", "authentication failed"],
            );
        }
        // A flipped enc byte.
        let mut flipped_enc = enc.clone().into_bytes();
        flipped_enc[10] = if flipped_enc[10] == b'0' { b'1' } else { b'0' };
        let tampered = format!("{}\n{ct}\n", String::from_utf8(flipped_enc).expect("hex"));
        assert!(
            !open(&secret, aad, "-", tampered.as_bytes())
                .status
                .success()
        );

        // Someone else's secret key.
        assert_fails_with(
            &open(&other_secret, aad, sealed_path, b""),
            &["authentication failed"],
        );
    }
}

#[test]
fn seal_and_open_must_agree_on_aead_and_info() {
    let dir = scratch("suite");
    let (public, secret) = generate_keys();
    let plain_file = dir.join("plain.bin");
    std::fs::write(&plain_file, b"\x00\x01binary\xff").expect("written");
    let plain = path_str(&plain_file);

    let sealed = success_text(&switchboard(
        &[
            "seal",
            "--to",
            &public,
            "--aead",
            "aes-128-gcm",
            "--info",
            "0102",
            plain,
        ],
        b"",
    ));
    let open = |extra: &[&str]| {
        let mut args = vec!["open", "--key", &secret];
        args.extend_from_slice(extra);
        args.push("-");
        switchboard(&args, sealed.as_bytes())
    };
    assert_eq!(
        success(&open(&["--aead", "aes-128-gcm", "--info", "0102"])),
        b"\x00\x01binary\xff"
    );
    for wrong in [
        &["--info", "0102"][..],
        &["--aead", "aes-256-gcm", "--info", "0102"],
        &["--aead", "aes-128-gcm"],
        &["--aead", "aes-128-gcm", "--info", "0103"],
    ] {
        assert_fails_with(&open(wrong), &["authentication failed"]);
    }
}

#[test]
fn bad_hex_and_bad_keys_fail_with_one_line_naming_the_argument() {
    let dir = scratch("bad");
    let (public, secret) = generate_keys();
    let plain_file = dir.join("plain.txt");
    std::fs::write(&plain_file, b"hello").expect("written");
    let plain = path_str(&plain_file);
    let short = "ab".repeat(31);
    let long = "ab".repeat(33);
    let zero = "00".repeat(32);
    // u = 1, a point of small order: the agreement gives all zeros.
    let one = format!("01{}", "00".repeat(31));
    let bad_digit = format!("zz{}", "ab".repeat(31));
    let odd = format!("{public}0");

    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["seal", "--to", &short, plain],
            vec!["--to", "expected 32 bytes", "got 31"],
        ),
        (
            vec!["seal", "--to", &long, plain],
            vec!["--to", "expected 32 bytes", "got 33"],
        ),
        (
            vec!["seal", "--to", &bad_digit, plain],
            vec!["--to", "not a hex digit"],
        ),
        (
            vec!["seal", "--to", &odd, plain],
            vec!["--to", "odd number of hex digits"],
        ),
        (
            vec!["seal", "--to", &zero, plain],
            vec!["--to", "low-order"],
        ),
        (vec!["seal", "--to", &one, plain], vec!["--to", "low-order"]),
        (
            vec!["seal", "--to", &public, "--aad", "0x12", plain],
            vec!["--aad", "not a hex digit"],
        ),
        (
            vec!["seal", "--to", &public, "--info", "abc", plain],
            vec!["--info", "odd number"],
        ),
        (
            vec!["seal", "--to", &public, "no-such-file"],
            vec!["cannot open no-such-file"],
        ),
        (
            vec!["open", "--key", &short, plain],
            vec!["--key", "expected 32 bytes"],
        ),
        (
            vec!["open", "--key", &bad_digit, plain],
            vec!["--key", "not a hex digit"],
        ),
        (
            vec!["open", "--key", &secret, "--aad", "g", plain],
            vec!["--aad"],
        ),
        (
            vec!["open", "--key", &secret, plain],
            vec!["plain.txt", "two lines of hex", "found 1 non-empty"],
        ),
        (
            vec![
                "hpke", "seal", "--pk-r", &short, "--sk-e", &secret, "--pt", "",
            ],
            vec!["--pk-r", "expected 32 bytes", "got 31"],
        ),
        (
            vec![
                "hpke", "seal", "--pk-r", &public, "--sk-e", &long, "--pt", "",
            ],
            vec!["--sk-e", "got 33"],
        ),
        (
            vec![
                "hpke", "seal", "--pk-r", &zero, "--sk-e", &secret, "--pt", "",
            ],
            vec!["--pk-r", "low-order"],
        ),
        (
            vec![
                "hpke", "seal", "--pk-r", &public, "--sk-e", &secret, "--pt", "0g",
            ],
            vec!["--pt", "not a hex digit"],
        ),
        (
            vec![
                "hpke", "seal", "--pk-r", &public, "--sk-e", &secret, "--info", "1", "--pt", "",
            ],
            vec!["--info", "odd number"],
        ),
        (
            vec![
                "hpke", "open", "--sk-r", &bad_digit, "--enc", &public, "--ct", "",
            ],
            vec!["--sk-r", "not a hex digit"],
        ),
        (
            vec![
                "hpke", "open", "--sk-r", &secret, "--enc", &short, "--ct", "",
            ],
            vec!["--enc", "expected 32 bytes"],
        ),
        (
            vec!["hpke", "open", "--sk-r", &secret, "--enc", &one, "--ct", ""],
            vec!["--enc", "low-order"],
        ),
        (
            vec![
                "hpke", "open", "--sk-r", &secret, "--enc", &public, "--ct", "zz",
            ],
            vec!["--ct", "not a hex digit"],
        ),
        (
            vec![
                "hpke", "open", "--sk-r", &secret, "--enc", &public, "--ct", "00",
            ],
            vec!["--ct", "authentication failed"],
        ),
    ];
    for (args, needles) in &cases {
        let output = switchboard(args, b"");
        assert_fails_with(&output, needles);
    }

    // What `open` reads: a bad enc line, a low-order enc, bad ciphertext hex, not text.
    let ct = "00".repeat(20);
    for (sealed, needles) in [
        (
            format!("{short}\n{ct}\n"),
            vec!["stdin: enc (first line)", "expected 32 bytes"],
        ),
        (
            format!("{zero}\n{ct}\n"),
            vec!["stdin: enc (first line)", "low-order"],
        ),
        (
            format!("{public}\n{ct}x\n"),
            vec!["ciphertext (second line)", "odd number"],
        ),
        (
            format!("{public}\n{ct}\n{ct}\n"),
            vec!["stdin", "found 3 non-empty"],
        ),
    ] {
        let output = switchboard(&["open", "--key", &secret, "-"], sealed.as_bytes());
        assert_fails_with(&output, &needles);
    }
    let output = switchboard(&["open", "--key", &secret, "-"], b"\xff\xfe\n\x00");
    assert_fails_with(&output, &["stdin: not text"]);
}
