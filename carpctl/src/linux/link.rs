//! Watches the carrier of the CARP interface through rtnetlink link notifications. When the
//! cable comes back, a master must claim its addresses again: while it was cut off another
//! node took them over and the neighbours learned that node's MAC.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::link::LinkFlags;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// The multicast group of link changes (RTMGRP_LINK).
const LINK_GROUP: u32 = 1;

pub struct LinkWatch {
    socket: Socket,
    index: u32,
}

impl LinkWatch {
    pub fn open(index: u32) -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind(&SocketAddr::new(0, LINK_GROUP))?;
        socket.set_non_blocking(true)?;
        Ok(LinkWatch { socket, index })
    }

    /// Reads the pending notifications; returns the last carrier state of our interface
    /// among them (true: up with carrier), if any of them was about it.
    pub fn changes(&self) -> Option<bool> {
        let mut carrier = None;
        loop {
            let Ok((buf, _)) = self.socket.recv_from_full() else {
                return carrier;
            };
            if buf.is_empty() {
                return carrier;
            }
            let mut offset = 0;
            while offset < buf.len() {
                let Ok(message) =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[offset..])
                else {
                    break;
                };
                let length = message.header.length as usize;
                if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) =
                    message.payload
                {
                    if link.header.index == self.index {
                        carrier = Some(link.header.flags.contains(LinkFlags::LowerUp));
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

impl AsFd for LinkWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}
