//! What of a sender's identity may cross to another app.
//!
//! Identity attributes cross only with their owner's consent; extras that
//! could carry anyone's identity never cross.

use crate::{ConsentScope, Facts};
use switchboard_pdk::types::{Address, ExtraField, IdentityAttribute};

/// Names of JSON members that hold or lead to a party's identity. An extra
/// whose pointer passes through one of them, or whose value contains a member
/// of that name at any depth, is dropped.
pub const IDENTITY_MEMBERS: &[&str] = &[
    "from",
    "to",
    "sender",
    "recipient",
    "recipient_id",
    "contact",
    "contacts",
    "profile",
    "metadata",
    "participants",
    "user",
    "users",
    "user_id",
    "user_ref",
    "wa_id",
    "phone",
    "phones",
    "phone_number",
    "display_phone_number",
    "email",
    "emails",
    "username",
];

/// The consent that lets `attribute` cross to another app.
pub fn consent_for(attribute: &IdentityAttribute) -> ConsentScope {
    match attribute {
        IdentityAttribute::PhoneNumber(_) => ConsentScope::SharePhoneNumber,
        IdentityAttribute::DisplayName(_) => ConsentScope::ShareDisplayName,
        IdentityAttribute::Username(_) => ConsentScope::ShareUsername,
    }
}

/// The attributes of `owner` that their consents allow on other apps.
pub fn shareable_attributes<F: Facts + ?Sized>(
    facts: &F,
    owner: &Address,
    attributes: &[IdentityAttribute],
) -> Vec<IdentityAttribute> {
    attributes
        .iter()
        .filter(|attribute| facts.has_consent(owner, consent_for(attribute)))
        .cloned()
        .collect()
}

/// The extras that name no party: see [`IDENTITY_MEMBERS`]. An extra whose
/// value is not valid JSON is dropped too, since it cannot be inspected.
pub fn shareable_extras(extras: &[ExtraField]) -> Vec<ExtraField> {
    extras
        .iter()
        .filter(|extra| !pointer_names_identity(&extra.path))
        .filter(
            |extra| match serde_json::from_str::<serde_json::Value>(&extra.json) {
                Ok(value) => !value_names_identity(&value),
                Err(_) => false,
            },
        )
        .cloned()
        .collect()
}

fn is_identity_member(name: &str) -> bool {
    IDENTITY_MEMBERS
        .iter()
        .any(|member| member.eq_ignore_ascii_case(name))
}

/// Whether a JSON pointer (RFC 6901) passes through an identity member.
fn pointer_names_identity(pointer: &str) -> bool {
    pointer
        .split('/')
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .any(|token| is_identity_member(&token))
}

/// Whether a JSON value has an identity member at any depth.
fn value_names_identity(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(members) => members
            .iter()
            .any(|(name, inner)| is_identity_member(name) || value_names_identity(inner)),
        serde_json::Value::Array(items) => items.iter().any(value_names_identity),
        _ => false,
    }
}
