//! The `DATABASE_URL` as a secret: parsed once, printed only with its password masked.

use sqlx::postgres::PgConnectOptions;
use std::fmt;
use std::str::FromStr;

/// A PostgreSQL URL (`postgres://user:password@host:port/database?…`). `Debug` and `Display`
/// mask the password, so the value can be logged and put in error messages.
#[derive(Clone)]
pub struct DatabaseUrl {
    raw: String,
    /// Boxed: the options are large and settings enums carry this by value.
    options: Box<PgConnectOptions>,
}

#[derive(Debug, thiserror::Error)]
#[error("DATABASE_URL is not a PostgreSQL URL (postgres://user:password@host:port/database): {0}")]
pub struct InvalidDatabaseUrl(String);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidDatabaseUrl> {
        let raw = raw.trim();
        if !(raw.starts_with("postgres://") || raw.starts_with("postgresql://")) {
            return Err(InvalidDatabaseUrl(
                "it must start with postgres:// or postgresql://".into(),
            ));
        }
        // sqlx's own messages name the part that is wrong, never the URL itself.
        let options =
            PgConnectOptions::from_str(raw).map_err(|e| InvalidDatabaseUrl(e.to_string()))?;
        Ok(Self {
            raw: raw.to_owned(),
            options: Box::new(options),
        })
    }

    pub fn connect_options(&self) -> PgConnectOptions {
        (*self.options).clone()
    }

    /// The URL with its password, for handing to a child process through its environment.
    pub fn expose_secret(&self) -> &str {
        &self.raw
    }

    /// `host:port` of the server, for messages.
    pub fn server(&self) -> String {
        format!("{}:{}", self.options.get_host(), self.options.get_port())
    }

    /// The URL with the password (in the user part or a `password=` parameter) replaced by `***`.
    pub fn redacted(&self) -> String {
        redact(&self.raw)
    }
}

fn redact(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return "***".into();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_mask_the_password_wherever_it_is() {
        let url = DatabaseUrl::parse("postgres://onboard:s3cr3t@db.internal:5433/onboard").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://onboard:***@db.internal:5433/onboard"
        );
        assert!(!format!("{url:?}").contains("s3cr3t"));
        assert_eq!(url.server(), "db.internal:5433");
        assert_eq!(
            url.expose_secret(),
            "postgres://onboard:s3cr3t@db.internal:5433/onboard"
        );

        let query = DatabaseUrl::parse(
            "postgresql://onboard@localhost/onboard?sslmode=disable&password=s3cr3t",
        )
        .unwrap();
        assert_eq!(
            query.to_string(),
            "postgresql://onboard@localhost/onboard?sslmode=disable&password=***"
        );
    }

    #[test]
    fn a_url_that_is_not_postgres_or_does_not_parse_is_refused_without_echoing_it() {
        let err = DatabaseUrl::parse("mysql://u:s3cr3t@h/d").unwrap_err();
        assert!(err.to_string().contains("postgres://"), "{err}");
        assert!(!err.to_string().contains("s3cr3t"));
        let err = DatabaseUrl::parse("postgres://u:s3cr3t@h:notaport/d").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}
