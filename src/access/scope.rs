//! Scopes a token can carry (docs/http.md).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    UsersWrite,
    UsersRead,
    Statements,
    Files,
    Admin,
    /// `GET /metrics` only: what a Prometheus server is given.
    Metrics,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::UsersWrite,
        Scope::UsersRead,
        Scope::Statements,
        Scope::Files,
        Scope::Admin,
        Scope::Metrics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::UsersWrite => "users:write",
            Scope::UsersRead => "users:read",
            Scope::Statements => "statements",
            Scope::Files => "files",
            Scope::Admin => "admin",
            Scope::Metrics => "metrics",
        }
    }

    /// Parses a comma-separated list such as `users:write,users:read`; duplicates are
    /// dropped, an unknown name is an error naming the valid ones.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = text
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(Scope::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }

    /// The scopes a stored list grants: each name trimmed, names this version does not
    /// know ignored (a scope added by a newer version grants nothing here, and takes
    /// nothing away). `db::audited_read` reads the stored text the same way in SQL.
    pub fn granted_by(stored: &str) -> Vec<Scope> {
        stored
            .split(',')
            .filter_map(|name| Scope::from_str(name.trim()).ok())
            .collect()
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown scope `{name}`; valid scopes: {}",
                    Scope::join(&Scope::ALL)
                )
            })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(
            Scope::parse_list("users:read, users:write,users:read").unwrap(),
            vec![Scope::UsersWrite, Scope::UsersRead]
        );
        assert!(Scope::parse_list("users:read,root").is_err());
        assert_eq!(
            Scope::parse_list(&Scope::join(&Scope::ALL)).unwrap(),
            Scope::ALL.to_vec()
        );
    }
}
