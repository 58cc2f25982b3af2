//! Adds and removes the virtual addresses through rtnetlink, the kernel's own interface, so
//! the engine needs no `ip` binary and gets the kernel's exact answer (EEXIST, EADDRNOTAVAIL).

use std::io;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A connected rtnetlink socket for address changes on one interface.
pub struct Addresses {
    socket: Socket,
    index: u32,
    sequence: u32,
}

impl Addresses {
    pub fn open(index: u32) -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Addresses {
            socket,
            index,
            sequence: 0,
        })
    }

    /// Adds `net` (address and prefix length); an address already there is fine.
    pub fn add(&mut self, net: IpNet) -> io::Result<()> {
        match self.request(net, true) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Removes `net`; an address already gone is fine.
    pub fn remove(&mut self, net: IpNet) -> io::Result<()> {
        match self.request(net, false) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(()),
            other => other,
        }
    }

    fn request(&mut self, net: IpNet, add: bool) -> io::Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = match net.addr() {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        message.header.prefix_len = net.prefix_len();
        message.header.scope = AddressScope::Universe;
        message.header.index = self.index;
        message.attributes.push(AddressAttribute::Local(net.addr()));
        message
            .attributes
            .push(AddressAttribute::Address(net.addr()));
        let (payload, flags) = if add {
            (
                RouteNetlinkMessage::NewAddress(message),
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            )
        } else {
            (
                RouteNetlinkMessage::DelAddress(message),
                NLM_F_REQUEST | NLM_F_ACK,
            )
        };
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(payload));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        loop {
            let (reply, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < reply.len() {
                let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let length = message.header.length as usize;
                if message.header.sequence_number == self.sequence {
                    if let NetlinkPayload::Error(e) = message.payload {
                        return match e.code {
                            None => Ok(()),
                            Some(_) => Err(e.to_io()),
                        };
                    }
                }
                if length == 0 {
                    break;
                }
                offset += length;
            }
        }
    }
}
