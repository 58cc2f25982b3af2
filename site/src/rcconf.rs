//! Lines of FreeBSD's configuration files (rc.conf.d, loader.conf, sysctl.conf) that several
//! tools contribute to: carpctl the CARP alias, pfgen the firewall and the interfaces. One line
//! type and one text form, so an installer can gather the lines of every tool by file.

use serde::Serialize;

use crate::Host;

/// One line for a FreeBSD configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigLine {
    /// The file the line goes into.
    pub file: &'static str,
    /// The line itself.
    pub line: String,
}

/// The lines under a `# FILE` comment per file, in the order given, files apart by a blank
/// line: what a person pastes file by file.
pub fn render_text(lines: &[ConfigLine]) -> String {
    let mut out = String::new();
    let mut current = "";
    for line in lines {
        if line.file != current {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("# {}\n", line.file));
            current = line.file;
        }
        out.push_str(&line.line);
        out.push('\n');
    }
    out
}

/// An interface name as rc.conf variables spell it (`ifconfig_em0_10` for `em0.10`): rc
/// replaces the characters a shell variable name cannot hold.
pub fn rc_name(interface: &str) -> String {
    interface.replace(['.', '-'], "_")
}

/// The rc.conf line of each of `host`'s addresses, under a comment, for /etc/rc.conf.d/network:
/// `ifconfig_IF="inet ADDR/LEN"`, or for IPv6 `ifconfig_IF_ipv6="inet6 ADDR prefixlen LEN"` as
/// rc.conf(5) spells it.
pub fn interface_lines(host: &Host) -> Vec<ConfigLine> {
    let file = "/etc/rc.conf.d/network";
    let mut lines = vec![ConfigLine {
        file,
        line: format!("# Interfaces of {}, from the site description.", host.name),
    }];
    lines.extend(host.addresses.iter().map(|(interface, address)| {
        let name = rc_name(interface);
        let line = if address.addr().is_ipv4() {
            format!("ifconfig_{name}=\"inet {address}\"")
        } else {
            format!(
                "ifconfig_{name}_ipv6=\"inet6 {} prefixlen {}\"",
                address.addr(),
                address.prefix_len()
            )
        };
        ConfigLine { file, line }
    }));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host {
            name: "redis2".into(),
            advskew: 100,
            addresses: [
                ("em0", "192.168.1.12/24"),
                ("vlan-10", "10.0.10.12/24"),
                ("em2.20", "fd00::12/64"),
            ]
            .into_iter()
            .map(|(i, a)| (i.to_string(), a.parse().unwrap()))
            .collect(),
        }
    }

    #[test]
    fn every_address_of_the_host_gets_its_ifconfig_line() {
        let lines: Vec<String> = interface_lines(&host())
            .into_iter()
            .map(|l| l.line)
            .collect();
        assert_eq!(
            lines,
            [
                "# Interfaces of redis2, from the site description.",
                "ifconfig_em0=\"inet 192.168.1.12/24\"",
                "ifconfig_em2_20_ipv6=\"inet6 fd00::12 prefixlen 64\"",
                "ifconfig_vlan_10=\"inet 10.0.10.12/24\"",
            ]
        );
    }

    #[test]
    fn the_text_form_groups_lines_by_file() {
        let lines = [
            ConfigLine {
                file: "/boot/loader.conf",
                line: "a=1".into(),
            },
            ConfigLine {
                file: "/boot/loader.conf",
                line: "b=1".into(),
            },
            ConfigLine {
                file: "/etc/rc.conf.d/pf",
                line: "c=1".into(),
            },
        ];
        assert_eq!(
            render_text(&lines),
            "# /boot/loader.conf\na=1\nb=1\n\n# /etc/rc.conf.d/pf\nc=1\n"
        );
    }
}
