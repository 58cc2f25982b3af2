//! A network of test hosts: one namespace per host, cabled by veth pairs to bridges that live
//! in a "switch" namespace of their own, so nothing is created in the machine's namespace.
//! Each bridge is one network segment (a VLAN of the how-to: the internal, the CARP and the
//! pfsync network); a host has one cable per segment it is on. Processes the test starts inside the hosts are killed, then every
//! namespace is removed, when the lab drops, also when the test fails.

use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Netns;

/// Hosts and bridges of one test, removed on drop.
#[derive(Debug)]
pub struct Lab {
    tag: String,
    /// Killed before the namespaces go, so none outlives its host.
    children: Vec<Child>,
    hosts: Vec<(String, Netns)>,
    /// (host, interface, switch-side port).
    cables: Vec<(String, String, String)>,
    /// Ports made so far, so a port name is never used twice (a cable may be made again).
    ports_made: usize,
    switch: Netns,
}

impl Lab {
    /// An empty lab: only the switch namespace. Every namespace name is `tag` (a few letters),
    /// the process id and a counter, then the host's name, so concurrent tests never collide.
    pub fn new(tag: &str) -> Lab {
        crate::assert_root();
        static LABS: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{tag}{}x{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::SeqCst)
        );
        Lab {
            switch: Netns::named(format!("{tag}-switch")),
            tag,
            children: Vec::new(),
            hosts: Vec::new(),
            cables: Vec::new(),
            ports_made: 0,
        }
    }

    /// Adds a bridge (a network segment) called `name` in the switch.
    pub fn bridge(&mut self, name: &str) -> &mut Lab {
        self.switch
            .exec(&["ip", "link", "add", name, "type", "bridge"]);
        self.switch.exec(&["ip", "link", "set", name, "up"]);
        self
    }

    /// Adds a host: a namespace of its own with loopback up.
    pub fn host(&mut self, name: &str) -> &mut Lab {
        assert!(
            self.hosts.iter().all(|(n, _)| n != name),
            "the lab already has a host '{name}'"
        );
        let ns = Netns::named(format!("{}-{name}", self.tag));
        self.hosts.push((name.to_string(), ns));
        self
    }

    /// Cables `host`'s interface `ifname` to `bridge`, gives it `addresses` (CIDR) and sets
    /// it up. Cabling an interface again (after the test deleted it) replaces the old cable.
    pub fn cable(
        &mut self,
        host: &str,
        ifname: &str,
        bridge: &str,
        addresses: &[&str],
    ) -> &mut Lab {
        let port = format!("p{}", self.ports_made);
        self.ports_made += 1;
        let ns = self.ns(host).name.clone();
        self.switch.exec(&[
            "ip", "link", "add", &port, "type", "veth", "peer", "name", ifname, "netns", &ns,
        ]);
        self.switch
            .exec(&["ip", "link", "set", &port, "master", bridge, "up"]);
        self.address(host, ifname, addresses);
        self.cables.retain(|(h, i, _)| h != host || i != ifname);
        self.cables
            .push((host.to_string(), ifname.to_string(), port));
        self
    }

    fn address(&self, host: &str, ifname: &str, addresses: &[&str]) {
        for address in addresses {
            self.exec(host, &["ip", "addr", "add", address, "dev", ifname]);
        }
        self.exec(host, &["ip", "link", "set", ifname, "up"]);
    }

    /// The namespace of `host`; panics for a host the lab does not have.
    pub fn ns(&self, host: &str) -> &Netns {
        self.hosts
            .iter()
            .find(|(name, _)| name == host)
            .map(|(_, ns)| ns)
            .unwrap_or_else(|| panic!("the lab has no host '{host}'"))
    }

    /// The switch namespace, where the bridges and the far ends of the cables are.
    pub fn switch(&self) -> &Netns {
        &self.switch
    }

    /// Runs `command` inside `host`; panics with its stderr when it fails.
    pub fn exec(&self, host: &str, command: &[&str]) -> Output {
        self.ns(host).exec(command)
    }

    /// A `Command` that runs `program` inside `host`, for output or exit codes the test judges
    /// itself, or for a process to [`Lab::keep`].
    pub fn command(&self, host: &str, program: &str) -> Command {
        self.ns(host).command(program)
    }

    /// Keeps a process started in the lab, to be killed before the namespaces are removed.
    pub fn keep(&mut self, child: Child) -> &mut Child {
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }

    /// Unplugs (`false`) or replugs (`true`) the cable of `host`'s `ifname` at the switch: the
    /// host keeps its interface and addresses, but nothing passes.
    pub fn plug(&self, host: &str, ifname: &str, up: bool) {
        let port = self
            .cables
            .iter()
            .find(|(h, i, _)| h == host && i == ifname)
            .map(|(_, _, port)| port)
            .unwrap_or_else(|| panic!("the lab has no cable for {host}'s {ifname}"));
        let state = if up { "up" } else { "down" };
        self.switch.exec(&["ip", "link", "set", port, state]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pings(lab: &Lab, from: &str, to: &str) -> bool {
        lab.command(from, "ping")
            .args(["-c", "1", "-W", "1", to])
            .output()
            .unwrap()
            .status
            .success()
    }

    #[test]
    #[ignore = "needs root: run with --include-ignored as root"]
    fn hosts_on_two_bridges_reach_each_other_until_unplugged_and_vanish_on_drop() {
        crate::assert_root();
        crate::assert_tool("ping", "iputils-ping");
        let mut lab = Lab::new("tkl");
        lab.bridge("br0").bridge("br1");
        for (n, host) in ["a", "b", "c"].into_iter().enumerate() {
            lab.host(host)
                .cable(host, "eth0", "br0", &[&format!("10.91.0.{}/24", n + 1)]);
        }
        // d sits on br1 with an address of br0's subnet: only the bridge separates it.
        lab.cable("a", "eth1", "br1", &["10.92.0.1/24"])
            .cable("c", "eth1", "br1", &["10.92.0.3/24"])
            .host("d")
            .cable("d", "eth0", "br1", &["10.91.0.9/24"]);
        assert!(pings(&lab, "a", "10.91.0.2"));
        assert!(
            pings(&lab, "a", "10.92.0.3"),
            "br1 carries traffic of its own"
        );
        assert!(!pings(&lab, "a", "10.91.0.9"), "br0 and br1 are apart");
        lab.plug("b", "eth0", false);
        assert!(
            !pings(&lab, "a", "10.91.0.2"),
            "an unplugged cable passes nothing"
        );
        lab.plug("b", "eth0", true);
        crate::wait_until(
            "b reachable again",
            std::time::Duration::from_secs(5),
            std::time::Duration::from_millis(100),
            || pings(&lab, "a", "10.91.0.2"),
        );
        let sleeper = lab.command("c", "sleep").arg("600").spawn().unwrap();
        let pid = sleeper.id();
        lab.keep(sleeper);
        let prefix = format!("{}-", lab.tag);
        assert_eq!(crate::namespaces_with_prefix(&prefix).len(), 5);
        drop(lab);
        assert!(crate::namespaces_with_prefix(&prefix).is_empty());
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the kept process outlived the lab"
        );
    }
}
