//! The FreeBSD side, where the kernel does CARP: the configuration lines the how-to writes by
//! hand (and the devd rule that runs the hooks), the `ifconfig` command that sets the alias
//! live, reading the CARP state back out of `ifconfig` output, and the demotion through
//! `sysctl net.inet.carp.demotion`. Pure text in and out, so it is tested on any OS; running
//! those commands against the kernel is [`kernel`]'s.

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use crate::control::Request;
use crate::error::Error;
use crate::machine::{State, MAX_SKEW};
use crate::settings;

pub mod kernel;

/// The kernel's demotion counter: writing N adds N to it, and every CARP interface
/// advertises advskew + demotion (clamped to 0..=240).
pub const DEMOTION_SYSCTL: &str = "net.inet.carp.demotion";
/// Where devd reads extra rules from (devd.conf's default `directory`).
pub const DEVD_FILE: &str = "/usr/local/etc/devd/carpctl.conf";

/// One line of configuration and the file it belongs in: the line type pfgen's FreeBSD lines
/// share, so an installer gathers both tools' lines alike.
pub use site::rcconf::{render_text as render_rc_text, ConfigLine};

/// The CARP alias of one host, as FreeBSD's ifconfig takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub interface: String,
    pub vhid: u8,
    pub protocol: Protocol,
    /// The virtual address; FreeBSD wants a /32 alias for it.
    pub vip: IpAddr,
    pub pass_file: std::path::PathBuf,
    pub preempt: bool,
}

/// What the kernel speaks for the vhid, with this host's values in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// CARP (`carpver 2`, the kernel's default), signed with the password.
    Carp {
        advbase: u8,
        advskew: u8,
        /// The node the adverts go to instead of the multicast group (unicast CARP).
        peer: Option<IpAddr>,
    },
    /// VRRPv3 (`carpver 3`): no password, and always multicast (the kernel keeps a unicast
    /// peer for CARP only).
    Vrrp { priority: u8, interval_cs: u16 },
}

impl Alias {
    /// The alias of `host` in `site`'s group `vhid` (default: the main group).
    pub fn from_site(site: &site::Site, host: &str, vhid: Option<u8>) -> Result<Alias, Error> {
        let host = site.host(host)?;
        let carp = site.carp.as_ref().ok_or_else(|| Error::Invalid {
            field: "carp",
            value: String::new(),
            fix: "the site has no \"carp\" section; add one to configure a virtual IP".into(),
        })?;
        let group = settings::site_group(site, vhid)?;
        let standing = site
            .standing(&group, &host.name)
            .expect("the host was found in the site above");
        let own = host.address(&carp.interface).map(site::Cidr::addr);
        Ok(Alias {
            interface: carp.interface.clone(),
            vhid: group.vhid,
            protocol: Protocol::from_site(carp, standing, own)?,
            vip: group.vip.addr(),
            pass_file: carp.pass_file.clone(),
            preempt: carp.preempt,
        })
    }

    /// `vhid V` and the protocol's words after it (ifconfig refuses advbase, advskew and pass
    /// before a vhid).
    fn vhid_words(&self, password: &str) -> Vec<String> {
        let mut words = vec!["vhid".to_string(), self.vhid.to_string()];
        words.extend(self.protocol.words(password));
        words
    }

    /// Whether the kernel is given the password (CARP signs its adverts, VRRPv3 does not).
    pub fn needs_password(&self) -> bool {
        matches!(self.protocol, Protocol::Carp { .. })
    }

    fn host_prefix(&self) -> u8 {
        if self.vip.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The password as a shell command substitution, so the secret is read where the line
    /// is used and never printed.
    fn pass_expansion(&self) -> String {
        format!("$(head -n 1 {})", shell_quote(&self.pass_file))
    }

    /// The lines of loader.conf, sysctl.conf and rc.conf.d/network for this host. The
    /// password is read from its file when rc sources the line, unless `literal` gives it
    /// (the how-to's form, for hosts where the file is not there at boot).
    pub fn rc_lines(&self, alias_index: u32, literal: Option<&str>) -> Vec<ConfigLine> {
        let family = if self.vip.is_ipv4() { "inet" } else { "inet6" };
        let mut lines = vec![ConfigLine {
            file: "/boot/loader.conf",
            line: "carp_load=\"YES\"".into(),
        }];
        if self.preempt {
            lines.push(ConfigLine {
                file: "/etc/sysctl.conf",
                line: "net.inet.carp.preempt=1".into(),
            });
        }
        lines.push(ConfigLine {
            file: "/etc/rc.conf.d/network",
            line: format!(
                "ifconfig_{}_alias{alias_index}=\"{family} {} alias {}/{}\"",
                site::rcconf::rc_name(&self.interface),
                self.vhid_words(&literal.map_or_else(|| self.pass_expansion(), str::to_string))
                    .join(" "),
                self.vip,
                self.host_prefix()
            ),
        });
        lines
    }

    /// The ifconfig arguments that add the alias live, with the password given (VRRPv3 has
    /// none: it is left out).
    pub fn ifconfig_args(&self, password: &str) -> Vec<String> {
        let mut args = vec![self.interface.clone()];
        if !self.vip.is_ipv4() {
            args.push("inet6".into());
        }
        args.extend(self.vhid_words(password));
        args.extend([
            "alias".to_string(),
            format!("{}/{}", self.vip, self.host_prefix()),
        ]);
        args
    }

    /// The command of [`Alias::ifconfig_args`] as a shell line that reads the password file.
    pub fn ifconfig_command(&self) -> String {
        let expansion = format!("\"{}\"", self.pass_expansion());
        let mut words = vec!["ifconfig".to_string()];
        words.extend(self.ifconfig_args("\u{0}"));
        words
            .iter()
            .map(|w| {
                if w == "\u{0}" {
                    expansion.clone()
                } else {
                    w.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Protocol {
    /// This host's values in the group it holds `standing` in, derived as the Linux engine
    /// derives them, or why FreeBSD's kernel cannot run them. `own` is the host's address on
    /// the CARP interface.
    fn from_site(
        carp: &site::Carp,
        standing: site::Standing,
        own: Option<IpAddr>,
    ) -> Result<Protocol, Error> {
        let peers = settings::site_peers(carp, own);
        if carp.carpver == Some(settings::VRRP3) {
            if !peers.is_empty() {
                return Err(Error::Invalid {
                    field: "carp.peers",
                    value: list(&peers),
                    fix: "FreeBSD's kernel sends VRRPv3 adverts to the multicast group only (it \
                          keeps a unicast peer for CARP); leave carp.peers out, or use CARP \
                          (carpver 2) for unicast"
                        .into(),
                });
            }
            let (priority, interval_cs) = settings::site_vrrp(carp, standing);
            settings::check_vrrp(priority, interval_cs)?;
            return Ok(Protocol::Vrrp {
                priority,
                interval_cs,
            });
        }
        // ifconfig sets one peer (and one peer6) per vhid, where the Linux engine sends to
        // every other node of the list.
        if peers.len() > 1 {
            return Err(Error::Invalid {
                field: "carp.peers",
                value: list(&peers),
                fix: "FreeBSD's carp(4) sends to one unicast peer (ifconfig peer or peer6), and \
                      this host would have to send to each of these; unicast CARP on FreeBSD \
                      takes a group of two nodes, or leave carp.peers out for multicast"
                    .into(),
            });
        }
        Ok(Protocol::Carp {
            advbase: carp.advbase,
            advskew: standing.advskew,
            peer: peers.first().copied(),
        })
    }

    /// The words after `vhid N`: `[advbase B] advskew K [peer|peer6 P] pass PASSWORD` (advbase
    /// only when not FreeBSD's default of 1), or `carpver 3 vrrpprio P vrrpinterval I` (the
    /// interval in centiseconds, as the kernel keeps it; both always written, since ifconfig
    /// leaves what it is not given as the vhid had it).
    fn words(&self, password: &str) -> Vec<String> {
        let pairs: Vec<(&str, String)> = match self {
            Protocol::Carp {
                advbase,
                advskew,
                peer,
            } => {
                let advbase = (*advbase != 1).then(|| ("advbase", advbase.to_string()));
                let peer =
                    peer.map(|p| (if p.is_ipv4() { "peer" } else { "peer6" }, p.to_string()));
                advbase
                    .into_iter()
                    .chain([("advskew", advskew.to_string())])
                    .chain(peer)
                    .chain([("pass", password.to_string())])
                    .collect()
            }
            Protocol::Vrrp {
                priority,
                interval_cs,
            } => vec![
                ("carpver", settings::VRRP3.to_string()),
                ("vrrpprio", priority.to_string()),
                ("vrrpinterval", interval_cs.to_string()),
            ],
        };
        pairs
            .into_iter()
            .flat_map(|(name, value)| [name.to_string(), value])
            .collect()
    }
}

/// Addresses as an error message lists them.
fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Alias {
    /// The devd rules that run `up_hook` when the kernel makes this vhid MASTER and
    /// `down_hook` when it makes it BACKUP, with the `CARP_*` variables carpctl's engine sets
    /// (devd does not say why the state changed: CARP_FROM and CARP_REASON stay unset).
    /// devd hands the action to sh inside a quoted string, so a hook may not contain `"`,
    /// `\`, `$` (devd's own variables) or a line break.
    pub fn devd_lines(
        &self,
        src: Option<std::net::IpAddr>,
        up_hook: Option<&str>,
        down_hook: Option<&str>,
    ) -> Result<Vec<ConfigLine>, Error> {
        let mut lines = Vec::new();
        for (state, hook, field) in [
            ("MASTER", up_hook, "up-hook"),
            ("BACKUP", down_hook, "down-hook"),
        ] {
            let Some(hook) = hook else { continue };
            if hook.trim().is_empty() || hook.contains(['"', '\\', '$', '\n', '\r']) {
                return Err(Error::Invalid {
                    field,
                    value: hook.to_string(),
                    fix: "devd runs it from a quoted string: give a command without '\"', '\\', '$' or line breaks (put more into a script)".into(),
                });
            }
            let mut vars = vec![
                ("CARP_STATE", state.to_string()),
                ("CARP_INTERFACE", self.interface.clone()),
                ("CARP_VHID", self.vhid.to_string()),
                ("CARP_VIPS", format!("{}/{}", self.vip, self.host_prefix())),
            ];
            if let Some(src) = src {
                vars.push(("CARP_SRC", src.to_string()));
            }
            let assign: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let names: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
            lines.push(ConfigLine {
                file: DEVD_FILE,
                line: format!(
                    "notify 100 {{\n\tmatch \"system\" \"CARP\";\n\tmatch \"subsystem\" \"{}@{}\";\n\tmatch \"type\" \"{state}\";\n\taction \"{}; export {}; {hook}\";\n}};",
                    self.vhid,
                    self.interface,
                    assign.join(" "),
                    names.join(" ")
                ),
            });
        }
        Ok(lines)
    }
}

/// The demotion carpctl keeps added to the kernel's counter after `request`, and the step to
/// write to [`DEMOTION_SYSCTL`] for it. carpctl adds at most 240 in all and takes back only
/// what it added, so the kernel's own demotions (an interface down) stay.
pub fn demotion_step(ours: u8, request: Request) -> (u8, i32) {
    let new = match request {
        Request::Demote(n) => ours.saturating_add(n).min(MAX_SKEW),
        Request::Promote => 0,
        Request::Status => ours,
    };
    (new, i32::from(new) - i32::from(ours))
}

/// The arguments of `sysctl` that add `step` to the kernel's demotion.
pub fn sysctl_step_args(step: i32) -> Vec<String> {
    vec![format!("{DEMOTION_SYSCTL}={step}")]
}

/// The value printed by `sysctl -n net.inet.carp.demotion`.
pub fn parse_sysctl_int(text: &str) -> Result<i64, Error> {
    text.trim()
        .parse()
        .map_err(|_| Error::Ifconfig(format!("sysctl printed '{}', not a number", text.trim())))
}

/// advskew plus the kernel's demotion, clamped to 0..=240 as the kernel does.
pub fn effective_skew(advskew: u8, demotion: i64) -> u8 {
    (i64::from(advskew) + demotion).clamp(0, i64::from(MAX_SKEW)) as u8
}

fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// One vhid as the FreeBSD kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelCarp {
    pub interface: String,
    /// The vhid (VRRPv3's vrid: the kernel keeps both in one field).
    pub vhid: u8,
    pub state: State,
    /// 2 (CARP) or 3 (VRRPv3).
    pub carpver: u8,
    /// CARP: the advertisement base in seconds; 0 in VRRPv3, where the kernel keeps none.
    pub advbase: u8,
    /// CARP: the configured skew; 0 in VRRPv3.
    pub advskew: u8,
    /// VRRPv3: the configured priority; 0 in CARP.
    pub vrrpprio: u8,
    /// VRRPv3: the advertisement interval in centiseconds; 0 in CARP.
    pub vrrpinterval: u16,
    /// The addresses `ifconfig` lists with this vhid.
    pub vips: Vec<String>,
    /// The kernel's demotion (`net.inet.carp.demotion`, system-wide).
    pub demotion: i64,
    /// CARP: advskew + demotion, clamped to 0..=240: what the adverts carry; 0 in VRRPv3.
    pub effective_skew: u8,
}

impl KernelCarp {
    /// This vhid under the kernel's system-wide `demotion`.
    pub fn with_demotion(self, demotion: i64) -> KernelCarp {
        let effective_skew = if self.carpver == settings::CARP {
            effective_skew(self.advskew, demotion)
        } else {
            0
        };
        KernelCarp {
            demotion,
            effective_skew,
            ..self
        }
    }
}

/// Reads every vhid of `ifconfig` output, with the addresses that carry it.
pub fn parse_ifconfig(text: &str) -> Result<Vec<KernelCarp>, Error> {
    let mut found: Vec<KernelCarp> = Vec::new();
    let mut addresses: Vec<(String, u8, String)> = Vec::new();
    let mut interface = String::new();
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) && !line.is_empty() {
            if let Some((name, _)) = line.split_once(':') {
                interface = name.to_string();
            }
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [kind @ ("carp:" | "vrrp:"), state, rest @ ..] => {
                found.push(parse_vhid_line(&interface, kind, state, rest, line)?);
            }
            ["inet" | "inet6", addr, .., "vhid", vhid] => {
                if let Ok(vhid) = vhid.parse() {
                    let addr = addr.split('%').next().unwrap_or(addr);
                    addresses.push((interface.clone(), vhid, addr.to_string()));
                }
            }
            _ => {}
        }
    }
    for (interface, vhid, addr) in addresses {
        if let Some(carp) = found
            .iter_mut()
            .find(|c| c.interface == interface && c.vhid == vhid)
        {
            carp.vips.push(addr);
        }
    }
    Ok(found)
}

/// One vhid's summary line. FreeBSD's `ifconfig` (sbin/ifconfig/carp.c, `carp_status`) prints
/// `carp: STATE vhid N advbase B advskew S` for a CARP vhid and
/// `vrrp: STATE vrid N prio P interval I` for a VRRPv3 one, with the same state names.
fn parse_vhid_line(
    interface: &str,
    kind: &str,
    state: &str,
    rest: &[&str],
    line: &str,
) -> Result<KernelCarp, Error> {
    let common = KernelCarp {
        interface: interface.to_string(),
        vhid: 0,
        state: parse_state(state, line)?,
        carpver: settings::CARP,
        advbase: 0,
        advskew: 0,
        vrrpprio: 0,
        vrrpinterval: 0,
        vips: Vec::new(),
        demotion: 0,
        effective_skew: 0,
    };
    if kind == "vrrp:" {
        return Ok(KernelCarp {
            vhid: number_after(rest, "vrid", line)?,
            carpver: settings::VRRP3,
            vrrpprio: number_after(rest, "prio", line)?,
            vrrpinterval: number_after(rest, "interval", line)?,
            ..common
        });
    }
    let advskew = number_after(rest, "advskew", line)?;
    Ok(KernelCarp {
        vhid: number_after(rest, "vhid", line)?,
        advbase: number_after(rest, "advbase", line)?,
        advskew,
        effective_skew: advskew,
        ..common
    })
}

/// The kernel's state names (`CARP_STATES`), printed alike for CARP and VRRPv3 vhids.
fn parse_state(word: &str, line: &str) -> Result<State, Error> {
    match word {
        "MASTER" => Ok(State::Master),
        "BACKUP" => Ok(State::Backup),
        "INIT" => Ok(State::Init),
        other => Err(Error::Ifconfig(format!(
            "unknown CARP state '{other}' in '{}'",
            line.trim()
        ))),
    }
}

/// The number after the word `name` in `words`; a missing or out-of-range one names `line`.
fn number_after<T: std::str::FromStr>(words: &[&str], name: &str, line: &str) -> Result<T, Error> {
    words
        .iter()
        .position(|w| *w == name)
        .and_then(|i| words.get(i + 1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Ifconfig(format!("no {name} in '{}'", line.trim())))
}

#[cfg(test)]
mod tests;
