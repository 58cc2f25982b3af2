//! The FreeBSD boot-time lines that go with a host's pf.conf: the pf and pfsync modules in
//! /boot/loader.conf, pf and pfsync enabled in /etc/rc.conf.d/pf, and the interface addresses
//! the rules name in /etc/rc.conf.d/network. carpctl adds the CARP lines of the same files.

use site::rcconf::{interface_lines, ConfigLine};

use crate::Error;

/// Where the ruleset is installed and what `pf_rules` names: pf's own default.
pub const PF_CONF: &str = "/etc/pf.conf";

/// The lines of host `name`: loader modules, then rc.conf.d/pf, then the interfaces.
pub fn rc_lines(site: &site::Site, name: &str) -> Result<Vec<ConfigLine>, Error> {
    let host = site.host(name)?;
    if site.firewall.is_none() {
        return Err(Error::NoFirewall);
    }
    let line = |file, line: String| ConfigLine { file, line };
    let mut lines = vec![line("/boot/loader.conf", "pf_load=\"YES\"".into())];
    if site.pfsync.is_some() {
        lines.push(line("/boot/loader.conf", "pfsync_load=\"YES\"".into()));
    }
    lines.push(line("/etc/rc.conf.d/pf", "pf_enable=\"YES\"".into()));
    lines.push(line("/etc/rc.conf.d/pf", format!("pf_rules=\"{PF_CONF}\"")));
    if let Some(pfsync) = &site.pfsync {
        lines.push(line("/etc/rc.conf.d/pf", "pfsync_enable=\"YES\"".into()));
        lines.push(line(
            "/etc/rc.conf.d/pf",
            format!("pfsync_syncdev=\"{}\"", pfsync.interface),
        ));
    }
    lines.extend(interface_lines(host));
    Ok(lines)
}
