//! docgen: the man pages and shell completions of the four tools, generated from the same clap
//! definitions the binaries parse with (so `--help`, `man` and tab completion never disagree).
//!
//! `docgen DIR` writes a tree laid out as under a prefix, ready to be copied into
//! `$DESTDIR$PREFIX` by `make install`:
//!
//! ```text
//! DIR/share/man/man1/redis-slotcheck.1, pfgen.1, pfgen-allowlist.1, redis-cluster-create-plan.1 …
//! DIR/share/man/man8/carpctl.8, carpctl-run.8 …        (carpctl administers the host)
//! DIR/share/bash-completion/completions/TOOL
//! DIR/share/zsh/vendor-completions/_TOOL
//! DIR/share/fish/vendor_completions.d/TOOL.fish
//! ```
//!
//! The rendering is pure ([`documents`]); only [`main`] touches the file system.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// One tool: its command definition and the manual section its pages go in.
struct Tool {
    command: clap::Command,
    section: &'static str,
}

fn tools() -> Vec<Tool> {
    vec![
        Tool {
            command: redis_slotcheck::cli::Cli::command(),
            section: "1",
        },
        Tool {
            command: redis_cluster_create::Cli::command(),
            section: "1",
        },
        Tool {
            command: pfgen::cli::Cli::command(),
            section: "1",
        },
        Tool {
            command: carpctl::cli::Cli::command(),
            section: "8",
        },
    ]
}

/// A file to write: its path relative to the prefix, and its content.
#[derive(Debug)]
struct Document {
    path: PathBuf,
    content: Vec<u8>,
}

/// Every man page (one per command and subcommand) and completion script of every tool.
fn documents() -> std::io::Result<Vec<Document>> {
    let mut out = Vec::new();
    for tool in tools() {
        let mut command = tool.command.disable_help_subcommand(true);
        command.build();
        // Subcommands carry no version of their own: every page names the tool's.
        let source = format!(
            "{} {}",
            command.get_name(),
            command.get_version().unwrap_or_default()
        );
        man_pages(&command, tool.section, &source, &mut out)?;
        completions(&mut command, &mut out);
    }
    Ok(out)
}

/// The page of `command` and, recursively, of each visible subcommand (`carpctl-run.8`).
/// clap names a built subcommand `parent-sub`, which is what the page and file are called.
fn man_pages(
    command: &clap::Command,
    section: &str,
    source: &str,
    out: &mut Vec<Document>,
) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(command.clone())
        .section(section)
        .source(source)
        .manual("redis-carp-tools");
    let mut content = Vec::new();
    man.render(&mut content)?;
    out.push(Document {
        path: Path::new("share/man")
            .join(format!("man{section}"))
            .join(man.get_filename()),
        content,
    });
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, section, source, out)?;
    }
    Ok(())
}

/// The bash, zsh and fish completions of `command`, where each shell's packages put theirs.
fn completions(command: &mut clap::Command, out: &mut Vec<Document>) {
    let name = command.get_name().to_string();
    for (shell, path) in [
        (
            Shell::Bash,
            format!("share/bash-completion/completions/{name}"),
        ),
        (Shell::Zsh, format!("share/zsh/vendor-completions/_{name}")),
        (
            Shell::Fish,
            format!("share/fish/vendor_completions.d/{name}.fish"),
        ),
    ] {
        let mut content = Vec::new();
        clap_complete::generate(shell, command, &name, &mut content);
        out.push(Document {
            path: PathBuf::from(path),
            content,
        });
    }
}

fn write_all(dir: &Path, documents: &[Document]) -> std::io::Result<()> {
    for document in documents {
        let path = dir.join(&document.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &document.content)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: docgen DIR  (writes DIR/share/man/… and DIR/share/*completion*/…)");
        return ExitCode::from(2);
    };
    let dir = Path::new(dir);
    match documents().and_then(|documents| write_all(dir, &documents)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "docgen: cannot write the pages under '{}': {error}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Vec<String> {
        documents()
            .unwrap()
            .iter()
            .map(|d| d.path.display().to_string())
            .collect()
    }

    #[test]
    fn every_command_and_subcommand_has_a_page() {
        let paths = paths();
        for tool in tools() {
            let mut command = tool.command;
            command.build();
            let name = command.get_name().to_string();
            let page = format!("share/man/man{}/{name}.{}", tool.section, tool.section);
            assert!(paths.contains(&page), "{page} missing from {paths:?}");
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                let page = format!(
                    "share/man/man{}/{name}-{}.{}",
                    tool.section,
                    sub.get_name(),
                    tool.section
                );
                assert!(paths.contains(&page), "{page} missing from {paths:?}");
            }
        }
        assert!(paths.contains(&"share/man/man8/carpctl-demote.8".to_string()));
        assert!(!paths.iter().any(|p| p.contains("-help.")), "{paths:?}");
    }

    #[test]
    fn pages_carry_the_help_text_of_their_options() {
        let documents = documents().unwrap();
        let page = documents
            .iter()
            .find(|d| d.path.ends_with("carpctl-run.8"))
            .unwrap();
        let text = String::from_utf8_lossy(&page.content);
        assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{text}");
        let title = format!(
            ".TH carpctl-run 8  \"carpctl {}\"",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&title), "{text}");
        assert!(text.contains("\\-\\-up\\-hook"), "{text}");
    }

    #[test]
    fn each_tool_has_three_completions_that_name_its_options() {
        let documents = documents().unwrap();
        for (path, needle) in [
            (
                "share/bash-completion/completions/redis-slotcheck",
                "--pass-file",
            ),
            ("share/zsh/vendor-completions/_pfgen", "allowlist"),
            ("share/fish/vendor_completions.d/carpctl.fish", "state-dir"),
            (
                "share/fish/vendor_completions.d/redis-cluster-create.fish",
                "plan",
            ),
        ] {
            let document = documents
                .iter()
                .find(|d| d.path == Path::new(path))
                .unwrap_or_else(|| panic!("{path} missing"));
            let text = String::from_utf8_lossy(&document.content);
            assert!(text.contains(needle), "{path} lacks {needle}");
        }
        let completions = documents
            .iter()
            .filter(|d| !d.path.starts_with("share/man"))
            .count();
        assert_eq!(completions, 4 * 3);
    }

    #[test]
    fn writes_the_tree_under_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &documents().unwrap()).unwrap();
        assert!(dir.path().join("share/man/man1/pfgen.1").is_file());
        assert!(dir
            .path()
            .join("share/zsh/vendor-completions/_carpctl")
            .is_file());
    }
}
