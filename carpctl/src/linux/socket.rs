//! The raw IPv4 socket of protocol 112: joined to 224.0.0.18 on one interface, it receives
//! every CARP packet of the link with its IP header (the TTL check needs it) and sends
//! packets whose IP header we write ourselves (TTL 255, DF, our own source address).

use std::io;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, BorrowedFd};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use crate::wire;

pub struct CarpSocket {
    socket: Socket,
}

impl CarpSocket {
    pub fn open(interface: &str, index: u32) -> io::Result<Self> {
        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(wire::PROTOCOL))),
        )?;
        socket.bind_device(Some(interface.as_bytes()))?;
        socket.set_header_included_v4(true)?;
        socket.join_multicast_v4_n(&wire::GROUP, &InterfaceIndexOrAddress::Index(index))?;
        socket.set_multicast_if_v4(&Ipv4Addr::UNSPECIFIED)?;
        socket.set_multicast_loop_v4(false)?;
        socket.set_nonblocking(true)?;
        Ok(CarpSocket { socket })
    }

    /// Sends a whole IPv4 packet (header included) to the CARP group.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        let to = SockAddr::from(SocketAddrV4::new(wire::GROUP, 0));
        self.socket.send_to(packet, &to).map(drop)
    }

    /// The next packet, or `None` when none is waiting.
    pub fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<&'b [u8]>> {
        match (&self.socket).read(buf) {
            Ok(n) => Ok(Some(&buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for CarpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}
