//! The one secret rule: a secret is given inline (`NAME`, or `key` in the file) or as a file
//! holding it (`NAME_FILE`, `key_file`), never both; a later layer giving either form replaces
//! both forms of an earlier one.

use super::problems::Problems;
use crate::adapters::secret::Secret;
use std::path::PathBuf;

/// Every secret key; each has a `{key}_file` twin.
pub const SECRET_KEYS: [&str; 6] = [
    "store.url",
    "bus.kafka.password",
    "notifier.smtp.password",
    "notifier.webhook.secret",
    "auth.jwt_secret",
    "watch.token",
];

/// Reports every secret given in both forms: after layering, both are left only when one layer
/// gave both. Checked for every secret, used by the process or not.
pub fn check_pairs(both_given: impl Fn(&str, &str) -> bool, problems: &mut Problems) {
    for key in SECRET_KEYS {
        if both_given(key, &format!("{key}_file")) {
            problems.push(
                key,
                format!("given both inline and as a file ({key}_file); set only one"),
            );
        }
    }
}

/// The secret of `key`, read from its file when given that way; `None` when neither is set, or
/// both ([`check_pairs`] reports that). An unreadable file or an empty secret is a problem.
pub fn resolve(
    problems: &mut Problems,
    key: &str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Option<Secret> {
    let secret = match (inline, file) {
        (Some(_), Some(_)) => return None,
        (Some(secret), None) => secret.clone(),
        (None, Some(path)) => match Secret::from_file(path) {
            Ok(secret) => secret,
            Err(error) => {
                problems.push(key, format!("cannot read {}: {error}", path.display()));
                return None;
            }
        },
        (None, None) => return None,
    };
    if secret.expose().trim().is_empty() {
        problems.push(key, "is empty");
        return None;
    }
    Some(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_comes_inline_or_from_a_file_never_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut problems = Problems::default();
        let inline = Some(Secret::new("inline"));
        let path = Some(file.clone());
        let read = resolve(&mut problems, "bus.kafka.password", &None, &path);
        assert_eq!(read.unwrap().expose(), "from-file");
        let given = resolve(&mut problems, "bus.kafka.password", &inline, &None);
        assert_eq!(given.unwrap().expose(), "inline");
        assert!(problems.is_empty());
        assert_eq!(resolve(&mut problems, "x", &None, &None), None);
        assert_eq!(
            resolve(&mut problems, "bus.kafka.password", &inline, &path),
            None
        );
        check_pairs(|key, _| key == "bus.kafka.password", &mut problems);
        let missing = Some(dir.path().join("nope"));
        assert_eq!(
            resolve(&mut problems, "auth.jwt_secret", &None, &missing),
            None
        );
        let text = problems.to_string();
        assert!(
            text.contains("KAFKA_PASSWORD / KAFKA_PASSWORD_FILE"),
            "{text}"
        );
        assert!(text.contains("set only one"), "{text}");
        assert!(text.contains("cannot read"), "{text}");
        assert!(!text.contains("inline\""), "{text}");
    }
}
