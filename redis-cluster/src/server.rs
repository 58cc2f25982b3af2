//! Which server a node runs, and what it can do: told by `INFO server`, never guessed from
//! `redis_version` alone (Valkey reports `redis_version:7.2.4` whatever its own version is).

use crate::Info;

/// The server software.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flavor {
    Redis,
    Valkey,
}

/// A server and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    pub flavor: Flavor,
    pub version: (u32, u32, u32),
}

/// The oldest Redis the tools support and test (Redis 6.2; Valkey began at 7.2).
pub const OLDEST_REDIS: (u32, u32, u32) = (6, 2, 0);

impl Server {
    /// From the `# Server` section of INFO; `None` when it names no version.
    pub fn from_info(info: &Info) -> Option<Server> {
        let (flavor, text) = match info.get("valkey_version") {
            Some(v) => (Flavor::Valkey, v),
            None => (Flavor::Redis, info.get("redis_version")?),
        };
        let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
        let version = (
            parts.next()??,
            parts.next()??,
            parts.next().flatten().unwrap_or(0),
        );
        Some(Server { flavor, version })
    }

    /// Supported by the tools: Redis 6.2 or newer, any Valkey.
    pub fn supported(&self) -> bool {
        self.flavor == Flavor::Valkey || self.version >= OLDEST_REDIS
    }

    /// The atomic slot migration the server has: Valkey 9.0's `CLUSTER MIGRATESLOTS`, Redis
    /// 8.4's `CLUSTER MIGRATION`; `None` before them.
    pub fn atomic_migration(&self) -> Option<crate::migration::Atomic> {
        use crate::migration::Atomic;
        match self.flavor {
            Flavor::Valkey if self.version >= (9, 0, 0) => Some(Atomic::Valkey),
            Flavor::Redis if self.version >= (8, 4, 0) => Some(Atomic::Redis),
            _ => None,
        }
    }

    /// `CLUSTER ADDSLOTSRANGE` (Redis 7.0, every Valkey); older servers take `ADDSLOTS` with
    /// every slot named.
    pub fn has_slot_ranges(&self) -> bool {
        self.flavor == Flavor::Valkey || self.version >= (7, 0, 0)
    }
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (major, minor, patch) = self.version;
        let name = match self.flavor {
            Flavor::Redis => "Redis",
            Flavor::Valkey => "Valkey",
        };
        write!(f, "{name} {major}.{minor}.{patch}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &str) -> Option<Server> {
        Server::from_info(&Info::parse(text))
    }

    #[test]
    fn valkey_is_told_by_its_own_version_not_the_redis_one_it_reports() {
        let valkey =
            server("redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:9.1.2\r\n")
                .unwrap();
        assert_eq!(valkey.to_string(), "Valkey 9.1.2");
        assert!(valkey.supported() && valkey.has_slot_ranges());
        let old = server("redis_version:6.2.14\r\n").unwrap();
        assert_eq!(old.to_string(), "Redis 6.2.14");
        assert!(old.supported() && !old.has_slot_ranges());
        assert_eq!(
            valkey.atomic_migration(),
            Some(crate::migration::Atomic::Valkey)
        );
        assert_eq!(old.atomic_migration(), None);
        let redis = |v: &str| server(&format!("redis_version:{v}\r\n")).unwrap();
        assert_eq!(redis("7.0.15").atomic_migration(), None);
        assert_eq!(
            redis("8.4.0").atomic_migration(),
            Some(crate::migration::Atomic::Redis)
        );
        let valkey8 = server("redis_version:7.2.4\r\nvalkey_version:8.1.1\r\n").unwrap();
        assert_eq!(valkey8.atomic_migration(), None);
        assert!(!server("redis_version:6.0.9\r\n").unwrap().supported());
        assert!(server("redis_version:7.0.15\r\n")
            .unwrap()
            .has_slot_ranges());
        assert_eq!(server("role:master\r\n"), None);
        assert_eq!(server("redis_version:x\r\n"), None);
    }
}
