//! `INFO` and `CLUSTER INFO` replies: `key:value` lines grouped in `# Section`s. Parsed into a
//! map once, read through typed accessors for the few fields the checks need.

use std::collections::BTreeMap;

/// The fields of an `INFO` or `CLUSTER INFO` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info(BTreeMap<String, String>);

impl Info {
    pub fn parse(text: &str) -> Info {
        Info(
            text.lines()
                .filter(|line| !line.starts_with('#'))
                .filter_map(|line| line.trim_end().split_once(':'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn number(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }

    /// `cluster_enabled:1` (section `# Cluster` of INFO).
    pub fn cluster_enabled(&self) -> bool {
        self.get("cluster_enabled") == Some("1")
    }

    /// `cluster_state` of CLUSTER INFO: `ok` or `fail`.
    pub fn cluster_state_ok(&self) -> bool {
        self.get("cluster_state") == Some("ok")
    }

    /// `cluster_known_nodes` of CLUSTER INFO.
    pub fn known_nodes(&self) -> Option<u64> {
        self.number("cluster_known_nodes")
    }

    /// Keys over all databases, from the `db<N>:keys=…,expires=…` lines of INFO keyspace.
    pub fn key_count(&self) -> u64 {
        self.keys_by_database().iter().map(|(_, keys)| keys).sum()
    }

    /// `(database, keys)` of every non-empty database, from INFO keyspace (Valkey 9 allows
    /// databases other than 0 in cluster mode, `cluster-databases`).
    pub fn keys_by_database(&self) -> Vec<(u32, u64)> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let db = k.strip_prefix("db")?.parse().ok()?;
                let keys = v.split(',').find_map(|kv| kv.strip_prefix("keys="))?;
                Some((db, keys.parse().ok()?))
            })
            .collect()
    }

    /// `role` of INFO replication: `master` or `slave`.
    pub fn is_replica(&self) -> bool {
        self.get("role") == Some("slave")
    }

    /// `master_link_status:up` of a replica.
    pub fn master_link_up(&self) -> bool {
        self.get("master_link_status") == Some("up")
    }

    /// `master_link_down_since_seconds` of a replica whose link is down; `None` while it is up
    /// and when it never synced (Redis says -1).
    pub fn master_link_down_seconds(&self) -> Option<u64> {
        self.number("master_link_down_since_seconds")
    }

    /// `slave_repl_offset` of a replica: how much of its master's stream it has.
    pub fn replica_offset(&self) -> Option<u64> {
        self.number("slave_repl_offset")
    }

    /// `server_time_usec` of INFO server, in milliseconds: the node's own clock.
    pub fn server_time_ms(&self) -> Option<u64> {
        self.number("server_time_usec").map(|us| us / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Info {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        Info::parse(&std::fs::read_to_string(path).unwrap())
    }

    #[test]
    fn cluster_info_fields() {
        let healthy = fixture("info-healthy.txt");
        assert!(healthy.cluster_state_ok());
        assert_eq!(healthy.known_nodes(), Some(6));
        let after_fail = fixture("info-after-fail.txt");
        assert_eq!(after_fail.get("cluster_slots_fail"), Some("0"));
    }

    #[test]
    fn replication_fields() {
        let replica = fixture("replication-replica-up.txt");
        assert!(replica.is_replica() && replica.master_link_up());
        assert!(!fixture("replication-master.txt").is_replica());
    }

    #[test]
    fn full_info_and_keyspace() {
        let info = fixture("info-all-master.txt");
        assert!(info.cluster_enabled());
        assert_eq!(info.key_count(), 0);
        let with_keys = Info::parse(
            "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\ndb1:keys=2,expires=1,avg_ttl=0\r\n",
        );
        assert_eq!(with_keys.key_count(), 5);
        assert_eq!(with_keys.keys_by_database(), [(0, 3), (1, 2)]);
    }
}
