//! The IP layer both protocols share: the IPv4 header carpctl writes and reads on its raw
//! socket, the received datagram of either family with the hop limit the TTL check needs,
//! and the pseudo-header that VRRPv3's checksum covers.

use std::net::{IpAddr, Ipv4Addr};

use super::{checksum_parts, Defect, PROTOCOL, TTL};

/// Length of the IPv4 header this crate writes (no options).
pub const IPV4_HEADER_LEN: usize = 20;

/// An advertisement as it arrived, before its own header is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
    /// What follows the IP header: the CARP or VRRP message.
    pub payload: Vec<u8>,
}

impl Datagram {
    /// The vhid (CARP) or VRID (VRRP): the second byte of both headers.
    pub fn vhid(&self) -> Option<u8> {
        self.payload.get(1).copied()
    }
}

/// Takes the source out of an IPv4 packet before any other check, so a defect can name the
/// sender.
pub fn source_of(packet: &[u8]) -> Option<Ipv4Addr> {
    let bytes: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    Some(Ipv4Addr::from(bytes))
}

/// Splits an IPv4 packet of protocol 112 (as a raw socket hands it over, header included)
/// into addresses, TTL and payload. IP options are skipped; the TTL is the caller's to check.
pub fn parse_ipv4(packet: &[u8]) -> Result<Datagram, Defect> {
    if packet.len() < IPV4_HEADER_LEN || packet[0] >> 4 != 4 {
        return Err(Defect::Malformed);
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    if ihl < IPV4_HEADER_LEN || packet[9] != PROTOCOL {
        return Err(Defect::Malformed);
    }
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    // A raw socket hands over the whole datagram; trailing bytes past the IP length (or a
    // length the kernel rewrote) are not ours to read.
    let end = if (ihl..=packet.len()).contains(&total) {
        total
    } else {
        packet.len()
    };
    let payload = packet.get(ihl..end).ok_or(Defect::Malformed)?;
    Ok(Datagram {
        src: IpAddr::V4(source_of(packet).ok_or(Defect::Malformed)?),
        dst: IpAddr::V4(Ipv4Addr::new(
            packet[16], packet[17], packet[18], packet[19],
        )),
        hop_limit: packet[8],
        payload: payload.to_vec(),
    })
}

/// A whole IPv4 packet carrying `payload` from `src` to `dst`: TTL 255, DF set, protocol 112.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; IPV4_HEADER_LEN + payload.len()];
    p[0] = 0x45;
    let len = u16::try_from(p.len()).expect("an advertisement fits an IPv4 packet");
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[6] = 0x40; // don't fragment
    p[8] = TTL;
    p[9] = PROTOCOL;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let sum = checksum_parts(&[&p[..IPV4_HEADER_LEN]]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p[IPV4_HEADER_LEN..].copy_from_slice(payload);
    p
}

/// The pseudo-header of RFC 768 (IPv4) or RFC 8200 section 8.1 (IPv6) for a message of
/// protocol 112 and `len` bytes from `src` to `dst`, or `None` when the families differ.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Option<Vec<u8>> {
    let mut h = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h.extend_from_slice(&[0, PROTOCOL]);
            h.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h.extend_from_slice(&u32::try_from(len).ok()?.to_be_bytes());
            h.extend_from_slice(&[0, 0, 0, PROTOCOL]);
        }
        _ => return None,
    }
    Some(h)
}
