//! The credentials a tool sends must never come back out of it. A node echoes what it was sent
//! in some errors: with AUTH renamed away it answers `ERR unknown command 'AUTH', with args
//! beginning with: '<password>'`, and that text would reach Nagios, the JSON report, log files
//! and stderr. Every text a connection reads from a node passes through [`Secrets::redact`]
//! first, so no tool has to remember to.

use crate::survey::ConnectOptions;

/// What a credential is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Redis quotes at most 128 bytes of a command's arguments, so a long password comes back cut
/// short: a prefix of the password at least this long is taken for it too.
const MIN_PREFIX: usize = 16;

/// The credentials of one set of connection options, to be cut out of text.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    password: Option<String>,
    user: Option<String>,
}

impl Secrets {
    /// The password and the ACL user name `options` authenticate with.
    pub fn of(options: &ConnectOptions) -> Secrets {
        let given = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        Secrets {
            password: given(&options.password),
            user: given(&options.user),
        }
    }

    /// `text` with every appearance of the password (also cut short, as Redis quotes long
    /// arguments) and every word that is the user name replaced by [`REDACTED`]. The user name
    /// is replaced only as a whole word: names are often ordinary words ("monitor").
    pub fn redact(&self, text: &str) -> String {
        let text = match &self.password {
            Some(password) => replace(text, password, false),
            None => text.to_string(),
        };
        match &self.user {
            Some(user) => replace(&text, user, true),
            None => text,
        }
    }
}

/// `text` with `secret` (and any prefix of it of [`MIN_PREFIX`] bytes or more) replaced; with
/// `whole_word`, only where no letter, digit or `_` touches it on either side.
fn replace(text: &str, secret: &str, whole_word: bool) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut head_len = secret.len().min(MIN_PREFIX);
    while !secret.is_char_boundary(head_len) {
        head_len -= 1;
    }
    let head = &secret[..head_len];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(head) {
        let tail = &rest[at..];
        // How far the text goes on agreeing with the secret, ending on a character boundary.
        let mut matched = tail
            .bytes()
            .zip(secret.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !tail.is_char_boundary(matched) {
            matched -= 1;
        }
        let whole = matched == secret.len();
        let bounded =
            !word(rest[..at].chars().next_back()) && !word(tail[matched..].chars().next());
        if (whole || matched >= MIN_PREFIX) && (!whole_word || bounded) {
            out.push_str(&rest[..at]);
            out.push_str(REDACTED);
            rest = &tail[matched..];
        } else {
            let step = head.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..at + step]);
            rest = &rest[at + step..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(user: Option<&str>, password: &str) -> Secrets {
        Secrets::of(&ConnectOptions {
            user: user.map(String::from),
            password: Some(password.to_string()),
            ..ConnectOptions::default()
        })
    }

    // Regression: with AUTH renamed away the server's error quoted the password, and the tools
    // printed it in Nagios, JSON and stderr.
    #[test]
    fn an_echoed_password_and_user_are_redacted() {
        let s = secrets(Some("monitor"), "s3cr3t");
        assert_eq!(
            s.redact("ERR unknown command 'AUTH', with args beginning with: 'monitor' 's3cr3t' "),
            "ERR unknown command 'AUTH', with args beginning with: '<redacted>' '<redacted>' "
        );
        assert_eq!(s.redact("x s3cr3ts3cr3t y"), "x <redacted><redacted> y");
    }

    #[test]
    fn the_user_name_only_as_a_word() {
        let s = secrets(Some("mon"), "pw-that-is-long-enough");
        assert_eq!(
            s.redact("NOPERM User mon has no permissions to run the 'monitor' command"),
            "NOPERM User <redacted> has no permissions to run the 'monitor' command"
        );
    }

    // Redis quotes at most 128 bytes of arguments: a long password comes back cut.
    #[test]
    fn a_long_password_cut_short_is_redacted_too() {
        let password = "p".repeat(20) + &"q".repeat(200);
        let s = secrets(None, &password);
        let echoed = format!(
            "ERR unknown command 'AUTH', with args beginning with: '{}' ",
            &password[..127]
        );
        assert_eq!(
            s.redact(&echoed),
            "ERR unknown command 'AUTH', with args beginning with: '<redacted>' "
        );
        // Shorter than MIN_PREFIX, a fragment is not taken for the password.
        assert_eq!(s.redact("ppp"), "ppp");
    }

    #[test]
    fn text_without_secrets_is_unchanged() {
        let s = secrets(Some("ü"), "é€");
        assert_eq!(s.redact("ERR Unknown node abc"), "ERR Unknown node abc");
        assert_eq!(s.redact("aé€b ü"), "a<redacted>b <redacted>");
        assert_eq!(Secrets::default().redact("anything"), "anything");
    }
}
