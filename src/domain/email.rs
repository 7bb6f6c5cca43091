//! Where an email is validated: the email address type, and its normalized form for
//! the blind index (the unique, case-insensitive look-up).

use super::Invalid;

/// An email address: a pragmatic subset of RFC 5321 (what real mail systems accept).
/// Stored as given; looked up case-insensitively.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        const MESSAGE: Invalid = "must be an email address like name@example.com";
        let value = raw.trim();
        if value.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let (local, domain) = value.rsplit_once('@').ok_or(MESSAGE)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(MESSAGE)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Canonical form for the blind index.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["jack.sparrow@piratebay.com", "a+b@x.co", "  X@Y.ORG "] {
            assert!(Email::parse(good).is_ok(), "{good} should parse");
        }
        for bad in [
            "",
            "jack",
            "@x.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@-b.com",
            ".a@b.com",
            "a..b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            Email::parse("Jack@PirateBay.com").unwrap().normalized(),
            "jack@piratebay.com"
        );
    }

    #[test]
    fn errors_never_repeat_the_input() {
        assert!(!Email::parse("secret-value-123@@")
            .err()
            .unwrap()
            .contains("secret"));
    }
}
