//! Node addresses as operators type them (`127.0.0.1:7000`, `[::1]:7000`) and as Redis
//! prints them, in one type so both sides compare equal.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The client address of one Redis instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeAddr(pub SocketAddr);

impl NodeAddr {
    /// The cluster bus address: same IP, port + 10000, or `None` when that passes 65535.
    pub fn bus(&self) -> Option<SocketAddr> {
        let port = u16::try_from(u32::from(self.0.port()) + site::BUS_PORT_OFFSET).ok()?;
        Some(SocketAddr::new(self.0.ip(), port))
    }

    /// The IP as Redis writes it in CLUSTER NODES (no brackets).
    pub fn ip_string(&self) -> String {
        self.0.ip().to_string()
    }
}

impl FromStr for NodeAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let addr: SocketAddr = s.parse().map_err(|_| {
            format!(
                "invalid node '{s}': expected IP:PORT, like 127.0.0.1:7000 or [::1]:7000 (host names are not accepted)"
            )
        })?;
        if addr.port() == 0 {
            return Err(format!("invalid node '{s}': port 0"));
        }
        Ok(NodeAddr(addr))
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for NodeAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_and_bracketed_v6() {
        assert_eq!(
            "127.0.0.2:7001".parse::<NodeAddr>().unwrap().to_string(),
            "127.0.0.2:7001"
        );
        let v6: NodeAddr = "[::1]:7000".parse().unwrap();
        assert_eq!(v6.to_string(), "[::1]:7000");
        assert_eq!(v6.ip_string(), "::1");
        assert_eq!(v6.bus().unwrap().port(), 17000);
    }

    #[test]
    fn rejects_what_is_not_ip_port() {
        for bad in [
            "localhost:7000",
            "127.0.0.1",
            "127.0.0.1:70000",
            "::1:7000",
            "127.0.0.1:0",
            "",
        ] {
            let err = bad.parse::<NodeAddr>().unwrap_err();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn bus_port_past_65535_is_none() {
        assert!("127.0.0.1:60000"
            .parse::<NodeAddr>()
            .unwrap()
            .bus()
            .is_none());
    }
}
