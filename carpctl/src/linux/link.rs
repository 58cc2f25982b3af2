//! Watches interfaces and addresses through rtnetlink notifications: the carrier and admin
//! state of the CARP interface and of the tracked ones (by name, so an interface deleted and
//! created again is followed), addresses removed behind the engine's back (an operator's
//! `ip addr del` of the VIP), and addresses added (the subnets peers are believed from). A full link dump at start and after a lost notification (the
//! kernel says ENOBUFS when our queue overflowed) keeps the picture complete.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR.
const GROUPS: u32 = 0x1 | 0x10 | 0x100;

/// One thing rtnetlink told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// Interface `index` named `name` exists; `up`: admin up with carrier.
    Link { name: String, index: u32, up: bool },
    /// Interface `index` named `name` was deleted.
    LinkGone { name: String, index: u32 },
    /// An address was added to interface `index`.
    AddressAdded { index: u32 },
    /// `addr` was removed from interface `index`.
    AddressGone { index: u32, addr: IpAddr },
    /// Notifications were lost: the caller should ask for a dump.
    Overrun,
}

pub struct LinkWatch {
    socket: Socket,
}

impl LinkWatch {
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind(&SocketAddr::new(0, GROUPS))?;
        socket.set_non_blocking(true)?;
        Ok(LinkWatch { socket })
    }

    /// Asks the kernel for every interface; the answers arrive as [`NetEvent::Link`]s.
    pub fn request_dump(&self) -> io::Result<()> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut packet = NetlinkMessage::new(
            header,
            NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
        );
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket
            .send_to(&buf, &SocketAddr::new(0, 0), 0)
            .map(drop)
    }

    /// Reads every pending notification.
    pub fn events(&self) -> Vec<NetEvent> {
        let mut events = Vec::new();
        loop {
            let buf = match self.socket.recv_from_full() {
                Ok((buf, _)) if !buf.is_empty() => buf,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    events.push(NetEvent::Overrun);
                    continue;
                }
                _ => return events,
            };
            decode(&buf, &mut events);
        }
    }
}

/// The events in one buffer of netlink messages.
fn decode(buf: &[u8], events: &mut Vec<NetEvent>) {
    let mut offset = 0;
    while offset < buf.len() {
        let Ok(message) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[offset..]) else {
            return;
        };
        let length = message.header.length as usize;
        if let NetlinkPayload::InnerMessage(inner) = message.payload {
            events.extend(event_of(inner));
        }
        if length == 0 {
            return;
        }
        offset += length;
    }
}

fn event_of(message: RouteNetlinkMessage) -> Vec<NetEvent> {
    match message {
        RouteNetlinkMessage::NewLink(link) => link_name(&link)
            .map(|name| {
                let flags = link.header.flags;
                NetEvent::Link {
                    name,
                    index: link.header.index,
                    up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp),
                }
            })
            .into_iter()
            .collect(),
        RouteNetlinkMessage::DelLink(link) => link_name(&link)
            .map(|name| NetEvent::LinkGone {
                name,
                index: link.header.index,
            })
            .into_iter()
            .collect(),
        RouteNetlinkMessage::NewAddress(address) => vec![NetEvent::AddressAdded {
            index: address.header.index,
        }],
        RouteNetlinkMessage::DelAddress(address) => {
            let index = address.header.index;
            let mut addrs: Vec<IpAddr> = address
                .attributes
                .iter()
                .filter_map(|a| match a {
                    AddressAttribute::Local(a) | AddressAttribute::Address(a) => Some(*a),
                    _ => None,
                })
                .collect();
            addrs.dedup();
            addrs
                .into_iter()
                .map(|addr| NetEvent::AddressGone { index, addr })
                .collect()
        }
        _ => Vec::new(),
    }
}

fn link_name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

impl AsFd for LinkWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::address::AddressMessage;

    fn bytes(messages: Vec<RouteNetlinkMessage>) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(m));
            packet.finalize();
            let mut buf = vec![0; packet.buffer_len()];
            packet.serialize(&mut buf);
            out.extend(buf);
        }
        out
    }

    fn link(index: u32, name: &str, flags: LinkFlags) -> LinkMessage {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = flags;
        link.attributes.push(LinkAttribute::IfName(name.into()));
        link
    }

    #[test]
    fn link_and_address_notifications_become_events() {
        let mut added = AddressMessage::default();
        added.header.index = 4;
        let mut gone = AddressMessage::default();
        gone.header.index = 4;
        gone.attributes
            .push(AddressAttribute::Local("10.0.0.100".parse().unwrap()));
        gone.attributes
            .push(AddressAttribute::Address("10.0.0.100".parse().unwrap()));
        let buf = bytes(vec![
            RouteNetlinkMessage::NewLink(link(4, "eth1", LinkFlags::Up | LinkFlags::LowerUp)),
            // Admin up without carrier, and admin down: both count as down.
            RouteNetlinkMessage::NewLink(link(4, "eth1", LinkFlags::Up)),
            RouteNetlinkMessage::NewLink(link(5, "eth2", LinkFlags::LowerUp)),
            RouteNetlinkMessage::DelLink(link(4, "eth1", LinkFlags::empty())),
            RouteNetlinkMessage::NewAddress(added),
            RouteNetlinkMessage::DelAddress(gone),
        ]);
        let mut events = Vec::new();
        decode(&buf, &mut events);
        let link = |name: &str, index, up| NetEvent::Link {
            name: name.into(),
            index,
            up,
        };
        assert_eq!(
            events,
            vec![
                link("eth1", 4, true),
                link("eth1", 4, false),
                link("eth2", 5, false),
                NetEvent::LinkGone {
                    name: "eth1".into(),
                    index: 4
                },
                NetEvent::AddressAdded { index: 4 },
                NetEvent::AddressGone {
                    index: 4,
                    addr: "10.0.0.100".parse().unwrap()
                },
            ]
        );
    }
}
