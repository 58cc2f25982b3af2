//! Unsolicited neighbour advertisements: the IPv6 counterpart of gratuitous ARP. With the
//! override flag set, neighbours replace the MAC they had cached for a virtual address.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};

use pnet_datalink::{MacAddr, NetworkInterface};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const NEIGHBOR_ADVERTISEMENT: u8 = 136;
const OVERRIDE: u8 = 0x20;
const TARGET_LINK_LAYER_ADDRESS: u8 = 2;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The ICMPv6 message (checksum left zero: the kernel fills it in on raw ICMPv6 sockets).
pub fn unsolicited_advertisement(target: Ipv6Addr, mac: MacAddr) -> [u8; 32] {
    let mut m = [0u8; 32];
    m[0] = NEIGHBOR_ADVERTISEMENT;
    m[4] = OVERRIDE;
    m[8..24].copy_from_slice(&target.octets());
    m[24] = TARGET_LINK_LAYER_ADDRESS;
    m[25] = 1; // option length in units of 8 bytes
    m[26..32].copy_from_slice(&mac.octets());
    m
}

/// Sends one unsolicited neighbour advertisement per address to all nodes, hop limit 255
/// (receivers drop any other).
pub fn announce(interface: &NetworkInterface, targets: &[Ipv6Addr]) -> io::Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let mac = interface
        .mac
        .ok_or_else(|| io::Error::other(format!("'{}' has no MAC address", interface.name)))?;
    let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    socket.bind_device(Some(interface.name.as_bytes()))?;
    socket.set_multicast_hops_v6(255)?;
    socket.set_multicast_if_v6(interface.index)?;
    let to = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, interface.index));
    for target in targets {
        socket.send_to(&unsolicited_advertisement(*target, mac), &to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertisement_overrides_and_carries_our_mac() {
        let m =
            unsolicited_advertisement("fd77::100".parse().unwrap(), MacAddr::new(2, 0, 0, 0, 0, 1));
        assert_eq!(&m[..8], &[136, 0, 0, 0, 0x20, 0, 0, 0]);
        assert_eq!(
            &m[8..24],
            &"fd77::100".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(&m[24..32], &[2, 1, 2, 0, 0, 0, 0, 1]);
    }
}
