//! Aliases: the pseudonym that stands for a member in one conversation
//! (`Amber Fox · WhatsApp`), stable for that member there, unique among its
//! members, and made from nothing personal.

use directory_schema::Account;

const ADJECTIVES: [&str; 32] = [
    "Amber", "Azure", "Brave", "Bright", "Calm", "Clever", "Coral", "Crimson", "Dapper", "Eager",
    "Fern", "Gentle", "Golden", "Happy", "Hazel", "Indigo", "Jade", "Jolly", "Keen", "Lively",
    "Lucky", "Mellow", "Misty", "Noble", "Olive", "Plucky", "Quiet", "Rosy", "Silver", "Sunny",
    "Swift", "Witty",
];

const ANIMALS: [&str; 32] = [
    "Badger", "Bear", "Crane", "Deer", "Dolphin", "Eagle", "Falcon", "Finch", "Fox", "Gecko",
    "Heron", "Ibis", "Koala", "Lark", "Lynx", "Marten", "Moose", "Newt", "Otter", "Owl", "Panda",
    "Puffin", "Quail", "Raven", "Robin", "Seal", "Sparrow", "Swan", "Tiger", "Walrus", "Wren",
    "Zebra",
];

/// How an app is named to people (`whatsapp` → `WhatsApp`); a plugin's app
/// by its platform name.
pub fn app_title(platform: &str) -> String {
    match platform {
        "whatsapp" => "WhatsApp".into(),
        "messenger" => "Messenger".into(),
        "instagram" => "Instagram".into(),
        "telegram" => "Telegram".into(),
        "matrix" => "Matrix".into(),
        other => other.into(),
    }
}

/// The alias of `account` in conversation `conversation`, different from
/// every alias in `taken`.
pub fn alias_for(conversation: &str, account: &Account, taken: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(
        format!("switchboard-alias:{conversation}:{}", account.key_part()).as_bytes(),
    );
    let start = usize::from(u16::from_be_bytes([digest[0], digest[1]]));
    let combinations = ADJECTIVES.len() * ANIMALS.len();
    let app = app_title(&account.platform);
    for step in 0..combinations {
        let index = (start + step) % combinations;
        let alias = format!(
            "{} {} · {app}",
            ADJECTIVES[index / ANIMALS.len()],
            ANIMALS[index % ANIMALS.len()]
        );
        if !taken.contains(&alias.as_str()) {
            return alias;
        }
    }
    // More members than names: number them.
    let mut number = taken.len() + 1;
    loop {
        let alias = format!("Member {number} · {app}");
        if !taken.contains(&alias.as_str()) {
            return alias;
        }
        number += 1;
    }
}
