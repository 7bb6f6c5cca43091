//! Names a request used that its route does not take (JSON fields, query parameters).

use super::FieldErrors;

/// The `fields` key under which unknown names are reported.
const UNKNOWN: &str = "(unknown)";

/// Reports the names in `used` that are not in `accepted`, under one key, `(unknown)`
/// (after `prefix`, for an item of a batch), with the names the route takes. Never the
/// names sent: a client that put a value where a name goes (an email as a query
/// parameter, an object keyed by national ids) must not get it back in an error.
pub fn check_names<'a>(
    errors: &mut FieldErrors,
    prefix: &str,
    kind: &str,
    accepted: &[&str],
    used: impl IntoIterator<Item = &'a str>,
) {
    if used.into_iter().any(|name| !accepted.contains(&name)) {
        let message = if accepted.is_empty() {
            format!("unknown {kind}; this route takes none")
        } else {
            format!("unknown {kind}; accepted: {}", accepted.join(", "))
        };
        errors.insert(format!("{prefix}{UNKNOWN}"), message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_reported_without_repeating_them() {
        let mut errors = FieldErrors::new();
        check_names(&mut errors, "", "field", &["a", "b"], ["a", "b"]);
        assert!(errors.is_empty());
        let sent = ["a", "jack@example.com", "AK1234567"];
        check_names(&mut errors, "items[2].", "field", &["a", "b"], sent);
        assert_eq!(
            errors,
            FieldErrors::from([(
                "items[2].(unknown)".to_owned(),
                "unknown field; accepted: a, b".to_owned()
            )])
        );
    }
}
