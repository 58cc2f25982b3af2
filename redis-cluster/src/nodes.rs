//! The `CLUSTER NODES` reply: one line per node as the answering node sees it. This is the
//! one place that knows its format (every flag, `ip:port@cport[,hostname]`, the
//! `[slot->-id]` / `[slot-<-id]` markers of open slots on the answering node's own line).
//! Node ids and IP addresses end up in reports, labels and terminal tables, so a line whose id
//! is not the 40 hex digits Redis makes or whose IP does not parse is refused, not passed on;
//! text quoted in a refusal is clipped and escaped.

use serde::{Deserialize, Serialize};

use crate::slots::SlotRange;

/// The flags Redis can set on a node, as a set of booleans so checks read naturally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Flags {
    /// The line describes the node that answered.
    pub myself: bool,
    pub master: bool,
    /// Redis calls it `slave`.
    pub replica: bool,
    /// `fail?`: the answering node cannot reach it (PFAIL).
    pub pfail: bool,
    /// `fail`: a majority of masters agreed it is down.
    pub fail: bool,
    /// First contact not yet completed.
    pub handshake: bool,
    /// The address of the node is not known.
    pub noaddr: bool,
    pub nofailover: bool,
}

/// An open slot on the answering node: being moved away or received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenSlot {
    pub slot: u16,
    /// `migrating` (to `peer`) or `importing` (from `peer`).
    pub direction: Direction,
    /// Id of the other node of the move.
    pub peer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Migrating,
    Importing,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeLine {
    pub id: String,
    /// Announced IP as written (empty for `noaddr` nodes).
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    /// Announced host name (`cluster-announce-hostname`), if any.
    pub hostname: Option<String>,
    pub flags: Flags,
    /// Flags this tool does not know (a newer server's), kept to be reported rather than a
    /// reason to drop the line; at most [`MAX_UNKNOWN_FLAGS`], each clipped.
    pub unknown_flags: Vec<String>,
    /// For a replica, the id of its master.
    pub master_id: Option<String>,
    pub config_epoch: u64,
    /// When the answering node last had a pong from this node, in milliseconds of its own
    /// clock (0: never, or this is the answering node).
    pub pong_recv_ms: u64,
    /// Whether the answering node's bus link to this node is up.
    pub connected: bool,
    pub slots: Vec<SlotRange>,
    /// Only filled on the `myself` line.
    pub open_slots: Vec<OpenSlot>,
}

impl NodeLine {
    /// The slots this node itself moves: a master's open slots. Valkey 8 and newer copy their
    /// primary's to replicas, which act on none of them (SETSLOT is for masters only).
    pub fn own_open_slots(&self) -> &[OpenSlot] {
        if self.flags.master {
            &self.open_slots
        } else {
            &[]
        }
    }

    /// `ip:port` as a client would connect, `None` when the address is unknown.
    pub fn client_addr(&self) -> Option<crate::NodeAddr> {
        if self.flags.noaddr || self.ip.is_empty() {
            return None;
        }
        let ip = self.ip.parse().ok()?;
        Some(crate::NodeAddr(std::net::SocketAddr::new(ip, self.port)))
    }

    /// `ip:port` as Redis prints it, for messages (also for `noaddr` nodes).
    pub fn endpoint(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]:{}", self.ip, self.port)
        } else {
            format!("{}:{}", self.ip, self.port)
        }
    }
}

/// A line that could not be understood, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse CLUSTER NODES line {line_number} ({reason}): '{line}'")]
pub struct ParseError {
    pub line_number: usize,
    pub line: String,
    pub reason: String,
}

/// Parses a whole `CLUSTER NODES` reply of at most [`crate::MAX_NODES`] lines.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<NodeLine>, ParseError> {
    let mut nodes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fail = |reason| ParseError {
            line_number: i + 1,
            line: toolkit::words::shown(line, toolkit::words::CLIP),
            reason,
        };
        if nodes.len() == crate::MAX_NODES {
            return Err(fail(format!(
                "more than {} nodes; this tool handles at most that many",
                crate::MAX_NODES
            )));
        }
        nodes.push(parse_line(line).map_err(fail)?);
    }
    Ok(nodes)
}

/// Node ids are 40 hex digits (CLUSTER_NAMELEN); anything else is not from Redis.
const ID_LEN: usize = 40;
/// Longest host name DNS allows.
const MAX_HOSTNAME: usize = 255;
/// The longest text form of an IP address (IPv6 with an embedded IPv4 part).
const MAX_IP: usize = 45;

/// `field` itself when it has at most `max` bytes; the error names what it is.
fn bounded<'a>(field: &'a str, max: usize, what: &str) -> Result<&'a str, String> {
    if field.len() > max {
        Err(format!(
            "{what} '{}' is longer than {max} characters",
            toolkit::words::shown(field, 40)
        ))
    } else {
        Ok(field)
    }
}

/// `field` when it is a node id: [`ID_LEN`] hex digits.
fn node_id<'a>(field: &'a str, what: &str) -> Result<&'a str, String> {
    if field.len() == ID_LEN && field.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(field)
    } else {
        Err(format!(
            "{what} '{}' is not {ID_LEN} hex digits",
            toolkit::words::shown(field, ID_LEN)
        ))
    }
}

fn parse_line(line: &str) -> Result<NodeLine, String> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if fields.len() < 8 {
        return Err(format!("{} fields, expected at least 8", fields.len()));
    }
    // Every slot listed one by one, each marked open as well: no real line has more.
    let most = 8 + 2 * usize::from(crate::SLOT_COUNT);
    if fields.len() > most {
        return Err(format!("{} fields, more than {most}", fields.len()));
    }
    let id = node_id(fields[0], "node id")?;
    let master_id = match fields[3] {
        "-" => None,
        master => Some(node_id(master, "master id")?.to_string()),
    };
    let (ip, port, cport, hostname) = parse_address(fields[1])?;
    let (flags, unknown_flags) = parse_flags(fields[2])?;
    let config_epoch = fields[6].parse().map_err(|_| {
        format!(
            "bad config epoch '{}'",
            toolkit::words::shown(fields[6], 40)
        )
    })?;
    let pong_recv_ms = fields[5]
        .parse()
        .map_err(|_| format!("bad pong time '{}'", toolkit::words::shown(fields[5], 40)))?;
    let connected = match fields[7] {
        "connected" => true,
        "disconnected" => false,
        other => {
            return Err(format!(
                "bad link state '{}'",
                toolkit::words::shown(other, 40)
            ))
        }
    };
    let mut slots = Vec::new();
    let mut open_slots = Vec::new();
    for field in &fields[8..] {
        if let Some(marker) = field.strip_prefix('[').and_then(|f| f.strip_suffix(']')) {
            open_slots.push(parse_open_slot(marker)?);
        } else {
            slots.push(parse_slot_range(field)?);
        }
    }
    Ok(NodeLine {
        id: id.to_string(),
        ip,
        port,
        cport,
        hostname,
        flags,
        unknown_flags,
        master_id,
        config_epoch,
        pong_recv_ms,
        connected,
        slots,
        open_slots,
    })
}

/// `ip:port@cport[,hostname]`; IPv6 addresses contain colons, so split at the last one.
fn parse_address(field: &str) -> Result<(String, u16, u16, Option<String>), String> {
    let (address, hostname) = match field.split_once(',') {
        Some((a, h)) if !h.is_empty() => {
            (a, Some(bounded(h, MAX_HOSTNAME, "host name")?.to_string()))
        }
        Some((a, _)) => (a, None),
        None => (field, None),
    };
    let field = &toolkit::words::shown(field, 80);
    let (ip_port, cport) = address
        .split_once('@')
        .ok_or_else(|| format!("address '{field}' has no @cport"))?;
    let (ip, port) = ip_port
        .rsplit_once(':')
        .ok_or_else(|| format!("address '{field}' has no port"))?;
    bounded(ip, MAX_IP, "IP address")?;
    // Redis writes IPv6 bare; brackets, as people write it, are taken too.
    let ip = ip
        .strip_prefix('[')
        .and_then(|ip| ip.strip_suffix(']'))
        .unwrap_or(ip);
    // Empty for a node whose address is not known (`:0@0`, flagged noaddr).
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!(
            "IP address '{}' in address '{field}' is not an IP address",
            toolkit::words::shown(ip, 40)
        ));
    }
    let number = |s: &str| {
        s.parse::<u16>().map_err(|_| {
            format!(
                "bad port '{}' in address '{field}'",
                toolkit::words::shown(s, 40)
            )
        })
    };
    Ok((ip.to_string(), number(port)?, number(cport)?, hostname))
}

/// Unknown flags kept per line, at most.
pub const MAX_UNKNOWN_FLAGS: usize = 8;
/// The longest flag taken for one: Redis's are words such as `nofailover`.
const MAX_FLAG: usize = 40;

fn parse_flags(field: &str) -> Result<(Flags, Vec<String>), String> {
    let mut flags = Flags::default();
    let mut unknown = Vec::new();
    for flag in field.split(',') {
        match flag {
            "myself" => flags.myself = true,
            "master" => flags.master = true,
            "slave" => flags.replica = true,
            "fail?" => flags.pfail = true,
            "fail" => flags.fail = true,
            "handshake" => flags.handshake = true,
            "noaddr" => flags.noaddr = true,
            "nofailover" => flags.nofailover = true,
            "noflags" => {}
            other => {
                let other = bounded(other, MAX_FLAG, "flag")?;
                if unknown.len() < MAX_UNKNOWN_FLAGS {
                    unknown.push(other.to_string());
                }
            }
        }
    }
    Ok((flags, unknown))
}

fn parse_slot(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|&s| s < crate::SLOT_COUNT)
        .ok_or_else(|| format!("bad slot '{}'", toolkit::words::shown(text, 40)))
}

fn parse_slot_range(field: &str) -> Result<SlotRange, String> {
    let (start, end) = field.split_once('-').unwrap_or((field, field));
    let range = SlotRange::new(parse_slot(start)?, parse_slot(end)?);
    if range.start > range.end {
        return Err(format!("reversed slot range '{field}'"));
    }
    Ok(range)
}

/// `N->-id` (migrating to id) or `N-<-id` (importing from id), without the brackets.
fn parse_open_slot(marker: &str) -> Result<OpenSlot, String> {
    let (slot, direction, peer) = if let Some((slot, peer)) = marker.split_once("->-") {
        (slot, Direction::Migrating, peer)
    } else if let Some((slot, peer)) = marker.split_once("-<-") {
        (slot, Direction::Importing, peer)
    } else {
        return Err(format!(
            "bad open-slot marker '[{}]'",
            toolkit::words::shown(marker, 40)
        ));
    };
    Ok(OpenSlot {
        slot: parse_slot(slot)?,
        direction,
        peer: node_id(peer, "node id")?.to_string(),
    })
}

/// A node's role in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Replica,
    /// Not cluster-enabled, never reached and unknown to the others, or still in handshake.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node id of 40 times `digit`, for lines written in tests.
    fn id(digit: char) -> String {
        digit.to_string().repeat(ID_LEN)
    }

    fn fixture(name: &str) -> Vec<NodeLine> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        parse_cluster_nodes(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn healthy_cluster_lines() {
        let nodes = fixture("nodes-healthy.txt");
        assert_eq!(nodes.len(), 6);
        let me = nodes.iter().find(|n| n.flags.myself).unwrap();
        assert_eq!(me.endpoint(), "127.0.0.1:17100");
        assert_eq!(me.cport, 27100);
        assert!(me.flags.master && !me.flags.replica);
        assert_eq!(me.slots, [SlotRange::new(0, 5460)]);
        let replicas: Vec<_> = nodes.iter().filter(|n| n.flags.replica).collect();
        assert_eq!(replicas.len(), 3);
        assert!(replicas
            .iter()
            .all(|r| r.master_id.is_some() && r.slots.is_empty()));
        assert!(nodes.iter().all(|n| n.connected));
    }

    #[test]
    fn migrating_and_importing_markers() {
        let migrating = fixture("nodes-migrating.txt");
        let me = migrating.iter().find(|n| n.flags.myself).unwrap();
        assert_eq!(me.slots, [SlotRange::new(0, 5460)]);
        assert_eq!(
            me.open_slots,
            [OpenSlot {
                slot: 100,
                direction: Direction::Migrating,
                peer: "2a48058404498e6847e8909c0625959918037c2e".into()
            }]
        );
        let importing = fixture("nodes-importing.txt");
        let me = importing.iter().find(|n| n.flags.myself).unwrap();
        assert_eq!(me.open_slots[0].direction, Direction::Importing);
        assert_eq!(me.open_slots[0].slot, 100);
        assert_eq!(me.own_open_slots(), &me.open_slots[..]);
    }

    // Valkey 8 and newer copy the primary's open slots to its replicas' own lines.
    #[test]
    fn a_replicas_copy_of_its_masters_open_slots_is_not_its_own() {
        let (b, a, c) = (id('b'), id('a'), id('c'));
        let line = format!("{b} 127.0.0.2:7001@17001 myself,slave {a} 0 0 1 connected [100-<-{c}]");
        let replica = &parse_cluster_nodes(&line).unwrap()[0];
        assert_eq!(replica.open_slots.len(), 1);
        assert!(replica.own_open_slots().is_empty());
    }

    #[test]
    fn failed_master_and_handshake() {
        let failed = fixture("nodes-fail.txt");
        let dead = failed.iter().find(|n| n.flags.fail).unwrap();
        assert!(dead.flags.master && !dead.connected && dead.slots.is_empty());
        let handshake = fixture("nodes-handshake.txt");
        let h = handshake.iter().find(|n| n.flags.handshake).unwrap();
        assert_eq!(h.endpoint(), "127.0.0.1:1");
    }

    #[test]
    fn ipv6_hostname_and_noaddr() {
        let (a, b, c) = (id('a'), id('b'), id('c'));
        let nodes = parse_cluster_nodes(&format!(
            "{a} [::1]:7000@17000,redis1 myself,master - 0 0 1 connected 0-10 12\n\
             {b} :0@0 master,noaddr - 0 0 0 disconnected\n\
             {c} ::1:7001@17001 slave,fail? {a} 0 0 1 connected\n",
        ))
        .unwrap();
        assert_eq!(nodes[0].hostname.as_deref(), Some("redis1"));
        assert_eq!(nodes[0].endpoint(), "[::1]:7000");
        assert_eq!(
            nodes[0].slots,
            [SlotRange::new(0, 10), SlotRange::new(12, 12)]
        );
        assert!(nodes[1].flags.noaddr && nodes[1].client_addr().is_none());
        assert_eq!(nodes[2].ip, "::1");
        assert_eq!(nodes[2].client_addr().unwrap().to_string(), "[::1]:7001");
        assert!(nodes[2].flags.pfail);
    }

    #[test]
    fn a_flag_of_a_newer_server_is_kept_not_a_reason_to_drop_the_line() {
        let line = format!(
            "{} 1.2.3.4:7000@17000 master,weird - 0 0 1 connected 0-9\n",
            id('a')
        );
        let nodes = parse_cluster_nodes(&line).unwrap();
        assert!(nodes[0].flags.master);
        assert_eq!(nodes[0].unknown_flags, ["weird"]);
        assert_eq!(nodes[0].slots, [SlotRange::new(0, 9)]);
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let line = format!(
            "{} 1.2.3.4:7000@17000 master - 0 0 1 connected 9-99999\n",
            id('a')
        );
        let err = parse_cluster_nodes(&format!("x\n{line}")).unwrap_err();
        assert_eq!(err.line_number, 1);
        let err = parse_cluster_nodes(&line).unwrap_err();
        assert!(err.to_string().contains("bad slot '99999'"), "{err}");
    }

    // Regression: a 10 MB field in a CLUSTER NODES line was quoted whole, twice, in messages
    // and in the report.
    #[test]
    fn an_oversized_field_is_refused_and_quoted_clipped() {
        let huge = "x".repeat(10_000_000);
        let a = id('a');
        for (line, field) in [
            (
                format!("{huge} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected"),
                "node id",
            ),
            (
                format!("{a} 127.0.0.1:7000@17000,{huge} myself,master - 0 0 1 connected"),
                "host name",
            ),
            (
                format!("{a} {huge}:7000@17000 myself,master - 0 0 1 connected"),
                "IP address",
            ),
            (
                format!("{a} 127.0.0.1:7000@17000 myself,{huge} - 0 0 1 connected"),
                "flag",
            ),
            (
                format!("{a} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected [1->-{huge}]"),
                "node id",
            ),
        ] {
            let error = parse_cluster_nodes(&line).unwrap_err().to_string();
            assert!(
                error.contains(&format!("({field} 'xxx")),
                "{}",
                &error[..200]
            );
            assert!(
                error.len() < 400,
                "{} bytes: {}",
                error.len(),
                &error[..400]
            );
            assert!(error.contains("bytes in all"), "{error}");
        }
    }

    #[test]
    fn a_reply_naming_more_nodes_than_the_limit_is_refused() {
        let lines: String = (0..=crate::MAX_NODES)
            .map(|i| {
                format!(
                    "{i:040x} 127.0.0.1:{}@1 master - 0 0 1 connected\n",
                    1 + i % 60000
                )
            })
            .collect();
        let error = parse_cluster_nodes(&lines).unwrap_err();
        assert_eq!(error.line_number, crate::MAX_NODES + 1);
        assert!(error.reason.contains("more than 10000 nodes"), "{error}");
    }

    // Regression: an id or address with ESC and BEL in it reached redis-slotcheck's table,
    // Nagios output and Prometheus labels raw (terminal escape injection); such lines are
    // refused, naming the line and the field, the bytes escaped.
    #[test]
    fn ids_that_are_not_hex_and_addresses_that_do_not_parse_are_refused() {
        let a = id('a');
        for (line, reason) in [
            (
                "ab\u{1b}[2J 127.0.0.1:7000@17000 myself,master - 0 0 1 connected".to_string(),
                "node id 'ab\\u{1b}[2J' is not 40 hex digits",
            ),
            (
                format!(
                    "{} 127.0.0.1:7000@17000 master - 0 0 1 connected",
                    "g".repeat(40)
                ),
                "is not 40 hex digits",
            ),
            (
                format!("{a} 127.0.0.1:7000@17000 slave a\u{7} 0 0 1 connected"),
                "master id 'a\\u{7}' is not 40 hex digits",
            ),
            (
                format!("{a} 10.0.0.1\u{1b}]0;pwned:7000@17000 master - 0 0 1 connected"),
                "IP address '10.0.0.1\\u{1b}]0;pwned' in address",
            ),
            (
                format!("{a} redis1:7000@17000 master - 0 0 1 connected"),
                "IP address 'redis1' in address 'redis1:7000@17000' is not an IP address",
            ),
            (
                format!("{a} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected [5->-zz]"),
                "node id 'zz' is not 40 hex digits",
            ),
        ] {
            let error = parse_cluster_nodes(&line).unwrap_err();
            assert_eq!(error.line_number, 1);
            assert!(error.reason.contains(reason), "{error}");
            let message = error.to_string();
            assert!(
                !message.contains(['\u{1b}', '\u{7}']),
                "raw control characters: {message:?}"
            );
        }
    }
}
