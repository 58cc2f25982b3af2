//! Unit tests of the policy and the renderers, on the how-to's site and variations of it.

use super::*;

const HOWTO: &str = include_str!("../../site/examples/howto.json");

fn howto() -> site::Site {
    site::Site::parse(HOWTO, "howto.json").unwrap()
}

fn howto_with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<site::Site, site::SiteError> {
    let mut value: serde_json::Value = serde_json::from_str(HOWTO).unwrap();
    edit(&mut value);
    site::Site::parse(&value.to_string(), "edited.json")
}

fn redis1() -> Policy {
    Policy::from_site(&howto(), Some("redis1")).unwrap()
}
