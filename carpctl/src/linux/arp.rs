//! Gratuitous ARP: tells the neighbours that the virtual address now lives at our MAC, so
//! traffic moves at once instead of when their ARP caches expire.

use std::io;
use std::net::Ipv4Addr;

use pnet_datalink::MacAddr;
use pnet_datalink::{Channel, NetworkInterface};
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};

const FRAME_LEN: usize = 42;

/// An ARP request for `vip` from `vip` at `mac`, broadcast (the form ucarp and FreeBSD send;
/// every stack updates its cache from it).
pub fn gratuitous_frame(mac: MacAddr, vip: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut frame = [0u8; FRAME_LEN];
    {
        let mut eth = MutableEthernetPacket::new(&mut frame).expect("frame holds ethernet");
        eth.set_destination(MacAddr::broadcast());
        eth.set_source(mac);
        eth.set_ethertype(EtherTypes::Arp);
    }
    let mut arp = MutableArpPacket::new(&mut frame[14..]).expect("frame holds ARP");
    arp.set_hardware_type(ArpHardwareTypes::Ethernet);
    arp.set_protocol_type(EtherTypes::Ipv4);
    arp.set_hw_addr_len(6);
    arp.set_proto_addr_len(4);
    arp.set_operation(ArpOperations::Request);
    arp.set_sender_hw_addr(mac);
    arp.set_sender_proto_addr(vip);
    arp.set_target_hw_addr(MacAddr::zero());
    arp.set_target_proto_addr(vip);
    frame
}

/// Sends one gratuitous ARP per address. The packet socket is opened only for this: held
/// open it would copy every frame of the link into the engine.
pub fn announce(interface: &NetworkInterface, vips: &[Ipv4Addr]) -> io::Result<()> {
    let mac = interface
        .mac
        .ok_or_else(|| io::Error::other(format!("'{}' has no MAC address", interface.name)))?;
    let config = pnet_datalink::Config {
        read_buffer_size: 64,
        ..Default::default()
    };
    let Channel::Ethernet(mut tx, _rx) = pnet_datalink::channel(interface, config)? else {
        return Err(io::Error::other("not an ethernet channel"));
    };
    for vip in vips {
        if let Some(result) = tx.send_to(&gratuitous_frame(mac, *vip), None) {
            result?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_a_broadcast_arp_request_for_the_vip_from_the_vip() {
        let mac = MacAddr::new(2, 0, 0, 0, 0, 1);
        let f = gratuitous_frame(mac, Ipv4Addr::new(10, 0, 10, 100));
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        // htype 1, ptype IPv4, hlen 6, plen 4, op request
        assert_eq!(&f[14..22], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&f[22..28], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[28..32], &[10, 0, 10, 100]);
        assert_eq!(&f[32..38], &[0; 6]);
        assert_eq!(&f[38..42], &[10, 0, 10, 100]);
    }
}
