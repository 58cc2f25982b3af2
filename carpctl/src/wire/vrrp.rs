//! The VRRPv3 advertisement (RFC 5798 section 5): version 3 / type 1, VRID, priority, the
//! count of addresses, a 12-bit maximum advertisement interval in centiseconds, the Internet
//! checksum over the message and the IPv4 or IPv6 pseudo-header, then the addresses. There is
//! no authentication in version 3.
//!
//! Pure functions over bytes, as the CARP codec: the engine builds and checks adverts with
//! them, and the tests decode adverts captured from keepalived.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ip::pseudo_header;
use super::{checksum_parts, Defect};

/// The version nibble of VRRPv3.
pub const VERSION: u8 = 3;
/// Length of the fixed part before the addresses.
pub const HEADER_LEN: usize = 8;
/// The IPv6 group of VRRP (and of CARP over IPv6).
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The largest interval the 12-bit field holds, in centiseconds.
pub const MAX_INTERVAL_CS: u16 = 0x0fff;
/// The priority a master sends when it stops: backups take over after their skew time.
pub const PRIORITY_STOP: u8 = 0;

const TYPE_ADVERTISEMENT: u8 = 1;

/// One VRRPv3 advertisement. The addresses are all of one family, the family of the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpAdvert {
    pub vrid: u8,
    pub priority: u8,
    /// Max Adver Int in centiseconds (12 bits).
    pub interval_cs: u16,
    pub addrs: Vec<IpAddr>,
}

impl VrrpAdvert {
    /// The message sent from `src` to `dst` (which select the pseudo-header), checksum filled
    /// in. Addresses of the other family than `src` are left out, as they cannot be carried.
    pub fn encode(&self, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        let addrs: Vec<&IpAddr> = self
            .addrs
            .iter()
            .filter(|a| a.is_ipv4() == src.is_ipv4())
            .take(usize::from(u8::MAX))
            .collect();
        let mut m = vec![
            (VERSION << 4) | TYPE_ADVERTISEMENT,
            self.vrid,
            self.priority,
            addrs.len() as u8,
        ];
        m.extend_from_slice(&(self.interval_cs & MAX_INTERVAL_CS).to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        for a in addrs {
            match a {
                IpAddr::V4(a) => m.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => m.extend_from_slice(&a.octets()),
            }
        }
        let pseudo = pseudo_header(src, dst, m.len()).unwrap_or_default();
        let sum = checksum_parts(&[&pseudo, &m]);
        m[6..8].copy_from_slice(&sum.to_be_bytes());
        m
    }

    /// Decodes the message of a packet from `src` to `dst`: version, length, checksum. The
    /// caller has checked the hop limit and knows the VRID it wants.
    pub fn decode(m: &[u8], src: IpAddr, dst: IpAddr) -> Result<VrrpAdvert, Defect> {
        let header: &[u8; HEADER_LEN] = m
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(Defect::Malformed)?;
        if header[0] >> 4 != VERSION {
            return Err(Defect::Version);
        }
        if header[0] & 0x0f != TYPE_ADVERTISEMENT {
            // The only type RFC 5798 defines; others must be dropped.
            return Err(Defect::Malformed);
        }
        let width = if src.is_ipv4() { 4 } else { 16 };
        let count = usize::from(header[3]);
        let body = m
            .get(HEADER_LEN..HEADER_LEN + count * width)
            .ok_or(Defect::Malformed)?;
        let m = &m[..HEADER_LEN + count * width];
        let pseudo = pseudo_header(src, dst, m.len()).ok_or(Defect::Malformed)?;
        if checksum_parts(&[&pseudo, m]) != 0 {
            return Err(Defect::Checksum);
        }
        let addrs = body
            .chunks_exact(width)
            .map(|c| match <[u8; 4]>::try_from(c) {
                Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
                Err(_) => IpAddr::V6(Ipv6Addr::from(
                    <[u8; 16]>::try_from(c).expect("chunks are 16 bytes"),
                )),
            })
            .collect();
        Ok(VrrpAdvert {
            vrid: header[1],
            priority: header[2],
            interval_cs: u16::from_be_bytes([header[4], header[5]]) & MAX_INTERVAL_CS,
            addrs,
        })
    }
}
