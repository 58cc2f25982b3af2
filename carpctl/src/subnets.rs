//! Who can be a peer over multicast. CARP adverts to the group are never routed (TTL 255), so
//! a real peer sends from its own address on the shared link, inside a subnet of our CARP
//! interface. The source is not signed: an advert that names a source outside those subnets
//! was forged or replayed, and is never believed. Pure: the engine hands in the interface's
//! addresses whenever they change.

use std::net::IpAddr;

use ipnet::IpNet;

/// The subnets of the CARP interface's own addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSubnets(Vec<IpNet>);

impl LinkSubnets {
    /// The subnets of `addrs` (the interface's addresses with their prefixes), the virtual
    /// addresses left out: they come and go with the state, and no peer sends from one.
    pub fn new(addrs: impl IntoIterator<Item = IpNet>, vips: &[IpNet]) -> Self {
        let mut nets: Vec<IpNet> = addrs
            .into_iter()
            .filter(|a| !vips.iter().any(|v| v.addr() == a.addr()))
            .map(|a| a.trunc())
            .collect();
        nets.sort_unstable();
        nets.dedup();
        LinkSubnets(nets)
    }

    /// Whether `src` lies in one of the subnets.
    pub fn contains(&self, src: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&src))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn a_source_on_the_link_is_in_and_any_other_is_out() {
        let subnets = LinkSubnets::new(nets(&["10.98.0.2/24", "fe80::1/64"]), &[]);
        for inside in ["10.98.0.1", "10.98.0.254", "fe80::2"] {
            assert!(subnets.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["10.98.1.1", "10.99.0.1", "192.168.0.1", "fd00::1"] {
            assert!(!subnets.contains(outside.parse().unwrap()), "{outside}");
        }
    }

    #[test]
    fn the_virtual_addresses_do_not_widen_the_link() {
        // A VIP of another subnet sits on the interface only while MASTER; adverts never
        // come from it, and the answer must not change with the state.
        let vips = nets(&["192.168.5.100/24"]);
        let subnets = LinkSubnets::new(nets(&["10.0.10.11/24", "192.168.5.100/24"]), &vips);
        assert_eq!(subnets, LinkSubnets::new(nets(&["10.0.10.11/24"]), &[]));
        assert!(!subnets.contains("192.168.5.7".parse().unwrap()));
    }

    #[test]
    fn an_interface_without_addresses_believes_no_source() {
        assert!(!LinkSubnets::new(Vec::new(), &[]).contains("10.0.0.1".parse().unwrap()));
    }
}
