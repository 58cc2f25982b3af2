//! The CARP v2 advertisement on the wire: the 36-byte header, its Internet checksum, the
//! HMAC-SHA1 that proves the sender knows the password, and the IPv4 packet around it. The
//! VRRPv3 advertisement is in [`vrrp`], the IP layer both share in [`ip`].
//!
//! Pure functions over bytes, so the same code builds what the engine sends, checks what it
//! receives, and decodes adverts captured from other implementations in tests. Decoding never
//! panics: every defect is a [`Defect`] value that the engine counts and reports.

pub mod ip;
pub mod vrrp;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

pub use ip::{source_of, Datagram, IPV4_HEADER_LEN};

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// IP protocol number of CARP (shared with VRRP).
pub const PROTOCOL: u8 = 112;
/// The multicast group every advertisement goes to.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Length of the CARP header that follows the IP header.
pub const HEADER_LEN: usize = 36;
/// The only TTL a receiver accepts: anything lower crossed a router.
pub const TTL: u8 = 255;
/// Longest password FreeBSD keeps (`ifconfig` copies into a 20-byte buffer with a NUL).
pub const MAX_PASSWORD_LEN: usize = 19;
/// The values of a "bow-out" advert: an interval no backup will wait for.
pub const BOW_OUT: u8 = 255;

const VERSION: u8 = 2;
const TYPE_ADVERTISEMENT: u8 = 1;
/// 32-bit words of counter and HMAC.
const AUTHLEN: u8 = 7;

/// The shared secret of a vhid. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Vec<u8>);

impl Password {
    /// The password as FreeBSD uses it: at most the first 19 bytes.
    pub fn new(bytes: &[u8]) -> Self {
        Password(bytes[..bytes.len().min(MAX_PASSWORD_LEN)].to_vec())
    }

    /// The bytes that count, for handing to FreeBSD's ifconfig.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

/// One advertisement, as carried in the CARP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    /// Low nibble of the first byte; 1 is an advertisement (receivers do not check it).
    pub kind: u8,
    pub vhid: u8,
    pub advskew: u8,
    /// Byte 4: zero from FreeBSD and ucarp, OpenBSD's demotion count.
    pub demote: u8,
    pub advbase: u8,
    /// Big-endian 64-bit counter, high word first.
    pub counter: u64,
    pub hmac: [u8; 20],
}

impl Advert {
    /// An advertisement for `vhid` signed with `password` over `addrs` (the vhid's addresses).
    pub fn signed(
        vhid: u8,
        advbase: u8,
        advskew: u8,
        counter: u64,
        password: &Password,
        addrs: &[IpAddr],
    ) -> Self {
        Advert {
            kind: TYPE_ADVERTISEMENT,
            vhid,
            advskew,
            demote: 0,
            advbase,
            counter,
            hmac: hmac(password, vhid, addrs, counter),
        }
    }

    /// The 36 header bytes, checksum filled in.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (VERSION << 4) | (self.kind & 0x0f);
        b[1] = self.vhid;
        b[2] = self.advskew;
        b[3] = AUTHLEN;
        b[4] = self.demote;
        b[5] = self.advbase;
        b[8..16].copy_from_slice(&self.counter.to_be_bytes());
        b[16..36].copy_from_slice(&self.hmac);
        let sum = checksum(&b);
        b[6..8].copy_from_slice(&sum.to_be_bytes());
        b
    }

    /// Whether the HMAC matches `password` and the vhid's addresses.
    pub fn verify(&self, password: &Password, addrs: &[IpAddr]) -> bool {
        let mut mac = keyed(password);
        feed(&mut mac, self.vhid, addrs, self.counter);
        mac.verify_slice(&self.hmac).is_ok()
    }
}

/// The RFC 1071 Internet checksum of `bytes` (the one's complement of the one's complement
/// sum of 16-bit words). Over a header that carries its own checksum the result is 0.
pub fn checksum(bytes: &[u8]) -> u16 {
    checksum_parts(&[bytes])
}

/// The checksum of `parts` laid end to end (a pseudo-header, then the message); every part
/// but the last has an even length.
pub fn checksum_parts(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for bytes in parts {
        let mut words = bytes.chunks_exact(2);
        for w in &mut words {
            sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            sum += u64::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn keyed(password: &Password) -> Hmac<Sha1> {
    // HMAC pads the key with zeros to the block size, so FreeBSD's zero-filled 20-byte key
    // buffer and the bare password give the same MAC.
    Hmac::<Sha1>::new_from_slice(&password.0).expect("HMAC accepts keys of any length")
}

/// Feeds the signed message: version, type, vhid, IPv4 addresses ascending, IPv6 addresses
/// ascending (link-local scope bytes zeroed), then the counter as sent.
fn feed(mac: &mut Hmac<Sha1>, vhid: u8, addrs: &[IpAddr], counter: u64) {
    mac.update(&[VERSION, TYPE_ADVERTISEMENT, vhid]);
    let mut v4: Vec<[u8; 4]> = Vec::new();
    let mut v6: Vec<[u8; 16]> = Vec::new();
    for addr in addrs {
        match addr {
            IpAddr::V4(a) => v4.push(a.octets()),
            IpAddr::V6(a) => {
                let mut o = a.octets();
                if o[0] == 0xfe && (o[1] & 0xc0) == 0x80 {
                    // KAME embeds the scope id in bytes 2-3 of link-local addresses.
                    o[2] = 0;
                    o[3] = 0;
                }
                v6.push(o);
            }
        }
    }
    v4.sort_unstable();
    v6.sort_unstable();
    for a in &v4 {
        mac.update(a);
    }
    for a in &v6 {
        mac.update(a);
    }
    mac.update(&counter.to_be_bytes());
}

/// The HMAC-SHA1 of an advertisement for `vhid` with `counter` over `addrs`.
pub fn hmac(password: &Password, vhid: u8, addrs: &[IpAddr], counter: u64) -> [u8; 20] {
    let mut mac = keyed(password);
    feed(&mut mac, vhid, addrs, counter);
    mac.finalize().into_bytes().into()
}

/// A whole IPv4 packet carrying `advert` from `src` to the CARP group: TTL 255, DF set.
pub fn encode_ipv4(src: Ipv4Addr, advert: &Advert) -> Vec<u8> {
    ip::ipv4_packet(src, GROUP, &advert.encode())
}

/// Why a received packet is not a usable advertisement. Each kind is counted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Defect {
    /// Not an IPv4 packet of protocol 112 with a whole CARP header in it.
    Malformed,
    /// TTL other than 255: the packet was routed.
    Ttl,
    /// The CARP header checksum does not add up.
    Checksum,
    /// CARP version other than 2.
    Version,
    /// The HMAC does not match our password and addresses.
    Hmac,
    /// With `--peer`, a sender that is not one of the peers.
    NotPeer,
    /// Over multicast, a source outside the subnets of the CARP interface: no peer on the
    /// link sends from there, so it was forged.
    OffLink,
}

impl Defect {
    pub const ALL: [Defect; 7] = [
        Defect::Malformed,
        Defect::Ttl,
        Defect::Checksum,
        Defect::Version,
        Defect::Hmac,
        Defect::NotPeer,
        Defect::OffLink,
    ];

    /// Short name used as a counter key.
    pub fn name(self) -> &'static str {
        match self {
            Defect::Malformed => "malformed",
            Defect::Ttl => "ttl",
            Defect::Checksum => "checksum",
            Defect::Version => "version",
            Defect::Hmac => "hmac",
            Defect::NotPeer => "not_peer",
            Defect::OffLink => "off_link",
        }
    }

    /// What the defect most likely means, for the first report of its kind.
    pub fn explain(self) -> &'static str {
        match self {
            Defect::Malformed => "a truncated or malformed packet",
            Defect::Ttl => "a TTL other than 255 (it crossed a router)",
            Defect::Checksum => "a bad checksum (corrupted on the way)",
            Defect::Version => {
                "another protocol version (CARP is 2, VRRP 3: give both sides the same --carpver)"
            }
            Defect::Hmac => {
                "a wrong password (its HMAC does not match ours; check the password, \
                 and that both sides list the same virtual addresses for this vhid)"
            }
            Defect::NotPeer => "a source that is not one of the --peer addresses",
            Defect::OffLink => {
                "a source outside the subnets of the CARP interface (forged, or a peer \
                 sending from an address this interface has no subnet for)"
            }
        }
    }
}

/// An advertisement taken out of an IPv4 packet whose TTL, length, checksum and version passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub advert: Advert,
}

/// Decodes a multicast CARP packet as received on a raw IPv4 socket, in FreeBSD's order of
/// checks: TTL, length, checksum, version. The HMAC is checked by the caller, who knows the
/// vhid.
pub fn decode_ipv4(packet: &[u8]) -> Result<Received, Defect> {
    let d = ip::parse_ipv4(packet)?;
    if d.hop_limit != TTL {
        return Err(Defect::Ttl);
    }
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (d.src, d.dst) else {
        return Err(Defect::Malformed);
    };
    let advert = decode_header(&d.payload)?;
    Ok(Received { src, dst, advert })
}

/// Decodes the 36-byte CARP header: version (so a VRRP advert is named as one), length,
/// checksum.
pub fn decode_header(b: &[u8]) -> Result<Advert, Defect> {
    if b.first().is_some_and(|v| v >> 4 != VERSION) {
        return Err(Defect::Version);
    }
    let b: &[u8; HEADER_LEN] = b
        .get(..HEADER_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(Defect::Malformed)?;
    if checksum(b) != 0 {
        return Err(Defect::Checksum);
    }
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&b[8..16]);
    let mut hmac = [0u8; 20];
    hmac.copy_from_slice(&b[16..36]);
    Ok(Advert {
        kind: b[0] & 0x0f,
        vhid: b[1],
        advskew: b[2],
        demote: b[4],
        advbase: b[5],
        counter: u64::from_be_bytes(counter),
        hmac,
    })
}

#[cfg(test)]
mod tests;
