//! The raw socket of protocol 112 (CARP and VRRP share it), of the family the adverts travel
//! in. Joined to the group (224.0.0.18 or ff02::12) unless the adverts go to unicast peers,
//! it receives every packet of protocol 112 for this host on one interface with what the
//! checks need: addresses and TTL (hop limit), from the IPv4 header we read or from IPv6
//! control messages. IPv4 headers we write ourselves (TTL 255, DF, our own source); IPv6 ones
//! the kernel writes from the bound source and a hop limit of 255.

use std::io;
use std::io::{IoSliceMut, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use crate::wire::{self, ip, vrrp, Datagram, Defect};

/// A packet that arrived but is not an IPv4 packet of protocol 112 with a whole header.
#[derive(Debug, Clone, Copy)]
pub struct Undecodable {
    pub defect: Defect,
    pub src: Option<IpAddr>,
}

pub struct AdvertSocket {
    socket: Socket,
    src: IpAddr,
    index: u32,
}

impl AdvertSocket {
    /// Opens the socket on `interface` for adverts from `src`; joins the group of `src`'s
    /// family when `multicast`.
    pub fn open(interface: &str, index: u32, src: IpAddr, multicast: bool) -> io::Result<Self> {
        let protocol = Some(Protocol::from(i32::from(wire::PROTOCOL)));
        let socket = match src {
            IpAddr::V4(_) => {
                let socket = Socket::new(Domain::IPV4, Type::RAW, protocol)?;
                socket.bind_device(Some(interface.as_bytes()))?;
                socket.set_header_included_v4(true)?;
                if multicast {
                    socket.join_multicast_v4_n(
                        &wire::GROUP,
                        &InterfaceIndexOrAddress::Index(index),
                    )?;
                }
                socket.set_multicast_if_v4(&Ipv4Addr::UNSPECIFIED)?;
                socket.set_multicast_loop_v4(false)?;
                socket
            }
            IpAddr::V6(a) => {
                let socket = Socket::new(Domain::IPV6, Type::RAW, protocol)?;
                socket.bind_device(Some(interface.as_bytes()))?;
                socket.bind(&SockAddr::from(SocketAddrV6::new(a, 0, 0, scope(a, index))))?;
                if multicast {
                    socket.join_multicast_v6(&vrrp::GROUP_V6, index)?;
                }
                socket.set_multicast_if_v6(index)?;
                socket.set_multicast_loop_v6(false)?;
                socket.set_multicast_hops_v6(u32::from(wire::TTL))?;
                socket.set_unicast_hops_v6(u32::from(wire::TTL))?;
                setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true)?;
                setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
                socket
            }
        };
        socket.set_nonblocking(true)?;
        Ok(AdvertSocket { socket, src, index })
    }

    /// Sends `payload` (a CARP or VRRP message) to `dst`.
    pub fn send(&self, dst: IpAddr, payload: &[u8]) -> io::Result<()> {
        match (self.src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let to = SockAddr::from(SocketAddrV4::new(dst, 0));
                self.socket
                    .send_to(&ip::ipv4_packet(src, dst, payload), &to)
                    .map(drop)
            }
            (IpAddr::V6(_), IpAddr::V6(dst)) => {
                let to = SockAddr::from(SocketAddrV6::new(dst, 0, 0, scope(dst, self.index)));
                self.socket.send_to(payload, &to).map(drop)
            }
            _ => Err(io::Error::other(format!(
                "cannot send to {dst} from {}: the families differ",
                self.src
            ))),
        }
    }

    /// The next packet, or `None` when none is waiting.
    pub fn recv(&self) -> io::Result<Option<Result<Datagram, Undecodable>>> {
        let mut buf = [0u8; 2048];
        let received = match self.src {
            IpAddr::V4(_) => (&self.socket).read(&mut buf).map(|n| {
                let packet = &buf[..n];
                ip::parse_ipv4(packet).map_err(|defect| Undecodable {
                    defect,
                    src: ip::source_of(packet).map(IpAddr::V4),
                })
            }),
            IpAddr::V6(_) => self.recv_v6(&mut buf),
        };
        match received {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// An IPv6 raw socket hands over the payload only; source, destination and hop limit come
    /// from the sender's address and control messages.
    fn recv_v6(&self, buf: &mut [u8]) -> io::Result<Result<Datagram, Undecodable>> {
        let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
        let (mut dst, mut hop_limit) = (None, None);
        let (len, src) = {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<SockaddrIn6>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::empty(),
            )?;
            for c in msg.cmsgs()? {
                match c {
                    ControlMessageOwned::Ipv6PacketInfo(info) => {
                        dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                    }
                    ControlMessageOwned::Ipv6HopLimit(h) => hop_limit = u8::try_from(h).ok(),
                    _ => {}
                }
            }
            (msg.bytes, msg.address.map(|a| IpAddr::V6(a.ip())))
        };
        Ok(match (src, dst, hop_limit) {
            (Some(src), Some(dst), Some(hop_limit)) => Ok(Datagram {
                src,
                dst,
                hop_limit,
                payload: buf[..len].to_vec(),
            }),
            _ => Err(Undecodable {
                defect: Defect::Malformed,
                src,
            }),
        })
    }
}

/// The scope id link-local addresses need: the interface's index.
fn scope(addr: Ipv6Addr, index: u32) -> u32 {
    if addr.is_unicast_link_local() || addr.is_multicast() {
        index
    } else {
        0
    }
}

impl AsFd for AdvertSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}
