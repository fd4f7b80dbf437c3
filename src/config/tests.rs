//! Layering, precedence, aliases, the secret rule and problems reported together.

use super::*;
use crate::adapters::kafka::{GroupProtocol, SecurityProtocol};
use crate::adapters::smtp::SmtpTls;
use crate::wiring::{BusSettings, NotifierSettings, StoreSettings};
use std::path::{Path, PathBuf};

const JWT: &str = "a-jwt-secret-that-is-long-enough-for-hs256";

fn env(vars: &[(&str, &str)]) -> Environment {
    Environment::from_pairs(vars.iter().copied())
}

fn loaded(file: Option<&Path>, vars: &[(&str, &str)], flags: Flags) -> Loaded {
    load(file, &env(vars), flags)
}

fn settings(vars: &[(&str, &str)], role: Role) -> Result<crate::app::Settings, Problems> {
    loaded(None, vars, Flags::default()).settings(role)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_environment_overrides_the_file_and_flags_override_both() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "onboard.toml",
        "listen = \"127.0.0.1:7000\"\ndata_dir = \"/from/file\"\n[consumer]\nbatch_size = 7\ngroup = \"file-group\"\n",
    );
    let vars = [
        ("ONBOARD_LISTEN", "127.0.0.1:7001"),
        ("ONBOARD_BATCH_SIZE", "8"),
    ];
    let mut flags = Flags::default();
    flags.set("listen", "127.0.0.1:7002");
    let settings = loaded(Some(&file), &vars, flags)
        .settings(Role::Up)
        .unwrap();
    assert_eq!(settings.listen.port(), 7002);
    assert_eq!(settings.consumer.batch_size, 8);
    assert_eq!(settings.consumer.group, "file-group");
    assert_eq!(settings.data_dir, PathBuf::from("/from/file"));
    assert_eq!(
        settings.store.describe(),
        "SQLite file /from/file/onboard.db"
    );
}

#[test]
fn onboard_config_names_the_file_when_no_flag_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.toml", "listen = \"127.0.0.1:7100\"\n");
    let other = write(dir.path(), "b.toml", "listen = \"127.0.0.1:7200\"\n");
    let by_env = settings(&[("ONBOARD_CONFIG", file.to_str().unwrap())], Role::Up).unwrap();
    assert_eq!(by_env.listen.port(), 7100);
    let by_flag = loaded(
        Some(&other),
        &[("ONBOARD_CONFIG", file.to_str().unwrap())],
        Flags::default(),
    )
    .settings(Role::Up)
    .unwrap();
    assert_eq!(by_flag.listen.port(), 7200);
}

#[test]
fn each_role_listens_on_its_own_default_port() {
    let shared = [
        ("KAFKA_BROKERS", "127.0.0.1:9092"),
        ("ONBOARD_JWT_SECRET", JWT),
    ];
    for (role, port) in [
        (Role::Up, 8080),
        (Role::Api, 8080),
        (Role::Consumer, 8081),
        (Role::Gateway, 8082),
    ] {
        assert_eq!(
            settings(&shared, role).unwrap().listen.port(),
            port,
            "{role}"
        );
    }
}

#[test]
fn the_seeds_names_set_the_same_keys() {
    let settings = settings(
        &[
            ("KAFKA_BROKERS", "b-1:9096,b-2:9096"),
            ("KAFKA_USERNAME", "svc"),
            ("KAFKA_PASSWORD", "hunter2-very-secret"),
            ("KAFKA_TOPIC", "kyc-verified"),
            ("WEBSOCKET_ENDPOINT", "https://gw.example.com"),
            ("ONBOARD_JWT_SECRET", JWT),
        ],
        Role::Consumer,
    )
    .unwrap();
    let BusSettings::Kafka(kafka) = &settings.bus else {
        panic!("KAFKA_BROKERS selects Kafka");
    };
    // Credentials without a protocol mean MSK's SCRAM over TLS.
    assert_eq!(kafka.security_protocol, SecurityProtocol::SaslSsl);
    assert_eq!(kafka.sasl_mechanism, "SCRAM-SHA-512");
    assert_eq!(kafka.replication_factor, 2);
    // KIP-848 unless the brokers are older than Kafka 4.0 and KAFKA_GROUP_PROTOCOL says so.
    assert_eq!(kafka.group_protocol, GroupProtocol::Consumer);
    assert_eq!(
        kafka.password.as_ref().unwrap().expose(),
        "hunter2-very-secret"
    );
    assert_eq!(settings.consumer.topics.len(), 1);
    let gateway = settings_for_gateway(&[("WEBSOCKET_ENDPOINT", "https://gw.example.com")]);
    assert_eq!(gateway.gateway.node_url, "https://gw.example.com");
}

#[test]
fn kafka_brokers_before_4_0_are_served_by_the_classic_group_protocol() {
    let settings = settings(
        &[
            ("KAFKA_BROKERS", "b-1:9092"),
            ("KAFKA_GROUP_PROTOCOL", " Classic "),
            ("ONBOARD_JWT_SECRET", JWT),
        ],
        Role::Consumer,
    )
    .unwrap();
    let BusSettings::Kafka(kafka) = &settings.bus else {
        panic!("KAFKA_BROKERS selects Kafka");
    };
    assert_eq!(kafka.group_protocol, GroupProtocol::Classic);
}

fn settings_for_gateway(extra: &[(&str, &str)]) -> crate::app::Settings {
    let mut vars = vec![
        ("KAFKA_BROKERS", "127.0.0.1:9092"),
        ("ONBOARD_JWT_SECRET", JWT),
    ];
    vars.extend_from_slice(extra);
    settings(&vars, Role::Gateway).unwrap()
}

#[test]
fn an_alias_and_its_onboard_name_must_agree() {
    let same = [
        ("ONBOARD_ADVERTISE_URL", "http://gw-1:8082"),
        ("WEBSOCKET_ENDPOINT", "http://gw-1:8082"),
    ];
    assert_eq!(
        settings_for_gateway(&same).gateway.node_url,
        "http://gw-1:8082"
    );
    let problems = loaded(
        None,
        &[
            ("ONBOARD_ADVERTISE_URL", "http://gw-1:8082"),
            ("WEBSOCKET_ENDPOINT", "http://gw-2:8082"),
        ],
        Flags::default(),
    )
    .problems;
    let text = problems.to_string();
    assert!(text.contains("gateway.advertise_url"), "{text}");
    assert!(text.contains("disagree"), "{text}");
}

#[test]
fn the_implicit_adapter_choices_of_before_remain_the_defaults() {
    let plain = settings(&[], Role::Up).unwrap();
    assert!(matches!(plain.store, StoreSettings::Sqlite { .. }));
    assert!(matches!(plain.bus, BusSettings::Embedded { .. }));
    assert!(matches!(plain.notifier, NotifierSettings::Maildir { .. }));
    let chosen = settings(
        &[
            ("DATABASE_URL", "postgres://u:pw@db:5432/onboard"),
            ("KAFKA_BROKERS", "k:9092"),
            ("ONBOARD_NOTIFIER", "smtp"),
            ("SMTP_HOST", "mail"),
        ],
        Role::Up,
    )
    .unwrap();
    assert!(matches!(chosen.store, StoreSettings::Postgres { .. }));
    assert!(matches!(chosen.bus, BusSettings::Kafka(_)));
    assert!(matches!(chosen.notifier, NotifierSettings::Smtp(_)));
    // An explicit kind wins over the implicit rule.
    let explicit = settings(
        &[
            ("DATABASE_URL", "postgres://u:pw@db:5432/onboard"),
            ("ONBOARD_STORE", "sqlite"),
            ("KAFKA_BROKERS", "k:9092"),
            ("ONBOARD_BUS", "embedded"),
        ],
        Role::Up,
    )
    .unwrap();
    assert!(matches!(explicit.store, StoreSettings::Sqlite { .. }));
    assert!(matches!(explicit.bus, BusSettings::Embedded { .. }));
}

#[test]
fn a_secret_given_twice_in_one_layer_is_a_problem_but_a_later_layer_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let password = write(dir.path(), "password", "from-file\n");
    let twice = settings(
        &[
            ("KAFKA_BROKERS", "k:9096"),
            ("KAFKA_USERNAME", "svc"),
            ("KAFKA_PASSWORD", "inline-password"),
            ("KAFKA_PASSWORD_FILE", password.to_str().unwrap()),
        ],
        Role::Up,
    )
    .unwrap_err();
    let text = twice.to_string();
    assert!(
        text.contains("bus.kafka.password (KAFKA_PASSWORD / KAFKA_PASSWORD_FILE)"),
        "{text}"
    );
    assert!(
        !text.contains("inline-password") && !text.contains("from-file"),
        "{text}"
    );
    // The file gives it inline, the environment as a file: the environment's form wins.
    let file = write(
        dir.path(),
        "onboard.toml",
        "[bus.kafka]\nbrokers = \"k:9096\"\nusername = \"svc\"\npassword = \"in-the-file\"\n",
    );
    let layered = loaded(
        Some(&file),
        &[("KAFKA_PASSWORD_FILE", password.to_str().unwrap())],
        Flags::default(),
    )
    .settings(Role::Up)
    .unwrap();
    let BusSettings::Kafka(kafka) = layered.bus else {
        panic!("brokers in the file select Kafka");
    };
    assert_eq!(kafka.password.unwrap().expose(), "from-file");
    // Both in the file is a problem too.
    let both = write(
        dir.path(),
        "both.toml",
        &format!(
            "[auth]\njwt_secret = \"{JWT}\"\njwt_secret_file = \"{}\"\n",
            password.display()
        ),
    );
    let text = loaded(Some(&both), &[], Flags::default())
        .settings(Role::Up)
        .unwrap_err()
        .to_string();
    assert!(text.contains("auth.jwt_secret"), "{text}");
}

#[test]
fn every_problem_is_reported_at_once_naming_its_key_and_variable() {
    let dir = tempfile::tempdir().unwrap();
    let password = write(dir.path(), "password", "p\n");
    let problems = settings(
        &[
            ("KAFKA_BROKERS", "nohost"),
            ("KAFKA_USERNAME", "svc"),
            ("KAFKA_PASSWORD", "p"),
            ("KAFKA_PASSWORD_FILE", password.to_str().unwrap()),
            ("ONBOARD_BATCH_SIZE", "0"),
            ("ONBOARD_WS_TTL_SECONDS", "ten"),
            ("ONBOARD_NOTIFIER", "sns"),
            ("ONBOARD_LISTEN", "localhost"),
            ("KAFKA_GROUP_PROTOCOL", "eager"),
        ],
        Role::Api,
    )
    .unwrap_err();
    let text = problems.to_string();
    for expected in [
        "auth.jwt_secret (ONBOARD_JWT_SECRET / ONBOARD_JWT_SECRET_FILE)",
        "bus.kafka.password (KAFKA_PASSWORD / KAFKA_PASSWORD_FILE)",
        "'nohost'",
        "consumer.batch_size (ONBOARD_BATCH_SIZE)",
        "gateway.ttl_seconds (ONBOARD_WS_TTL_SECONDS)",
        "notifier.sns.topic_arn (SNS_TOPIC_ARN): required with notifier.kind = sns",
        "listen (ONBOARD_LISTEN)",
        "bus.kafka.group_protocol (KAFKA_GROUP_PROTOCOL): 'eager' is not one of consumer",
    ] {
        assert!(text.contains(expected), "{expected} missing from: {text}");
    }
    assert_eq!(problems.0.len(), 8, "{text}");
}

#[test]
fn a_role_of_its_own_needs_an_explicit_secret_and_a_shared_bus_but_up_does_not() {
    assert!(settings(&[], Role::Up).is_ok());
    for role in [Role::Api, Role::Consumer, Role::Gateway, Role::Lambda] {
        let text = settings(&[], role).unwrap_err().to_string();
        assert!(text.contains("auth.jwt_secret"), "{role}: {text}");
        assert!(text.contains("bus.kind"), "{role}: {text}");
        let ok = settings(
            &[("KAFKA_BROKERS", "k:9092"), ("ONBOARD_JWT_SECRET", JWT)],
            role,
        );
        assert!(ok.is_ok(), "{role}: {:?}", ok.err());
    }
    let short = settings(&[("ONBOARD_JWT_SECRET", "short")], Role::Up).unwrap_err();
    assert!(short.to_string().contains("at least 32 bytes"), "{short}");
}

#[test]
fn the_file_is_checked_for_unknown_keys_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "onboard.toml",
        "listen = \"127.0.0.1:1\"\n\n[bus]\nkidn = \"kafka\"\n",
    );
    let text = settings(&[("ONBOARD_CONFIG", file.to_str().unwrap())], Role::Up)
        .unwrap_err()
        .to_string();
    assert!(text.contains("kidn") && text.contains("line 4"), "{text}");
    let wrong_type = write(
        dir.path(),
        "secret.toml",
        "[auth]\njwt_secret = 1234567890123\n",
    );
    let text = loaded(Some(&wrong_type), &[], Flags::default())
        .problems
        .to_string();
    assert!(
        text.contains("invalid type") && text.contains("line 2"),
        "{text}"
    );
    assert!(
        !text.contains("1234567890123"),
        "a secret of the wrong type is shown: {text}"
    );
    let missing = dir.path().join("missing.toml");
    let text = loaded(Some(&missing), &[], Flags::default())
        .problems
        .to_string();
    assert!(
        text.contains("cannot read the configuration file"),
        "{text}"
    );
}

#[test]
fn check_shows_the_effective_configuration_with_secrets_masked() {
    let (text, problems) = loaded(
        None,
        &[
            (
                "DATABASE_URL",
                "postgres://onboard:db-password-1@db:5432/onboard",
            ),
            ("ONBOARD_JWT_SECRET", JWT),
            ("ENVIRONMENT", "staging"),
        ],
        Flags::default(),
    )
    .check(Role::Up);
    assert!(problems.is_empty(), "{problems}");
    assert!(
        !text.contains("db-password-1") && !text.contains(JWT),
        "{text}"
    );
    assert!(text.contains("jwt_secret = \"***\""), "{text}");
    assert!(text.contains("kind = \"postgres\""), "{text}");
    assert!(text.contains("users = \"users-staging\""), "{text}");
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
}

#[test]
fn the_example_file_is_valid_and_documents_every_variable() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("onboard.example.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let loaded = loaded(Some(&example), &[], Flags::default());
    assert!(loaded.problems.is_empty(), "{}", loaded.problems);
    loaded.settings(Role::Up).unwrap();
    for var in env::VARIABLES {
        assert!(text.contains(var.name), "{} is not documented", var.name);
        let leaf = var.key.rsplit('.').next().unwrap();
        assert!(text.contains(leaf), "{} is not documented", var.key);
    }
}

#[test]
fn smtp_defaults_to_starttls_on_the_submission_port_without_authentication() {
    let settings = settings(
        &[
            ("ONBOARD_NOTIFIER", "smtp"),
            ("SMTP_HOST", "mail.example.com"),
        ],
        Role::Up,
    )
    .unwrap();
    let NotifierSettings::Smtp(config) = settings.notifier else {
        panic!("expected SMTP");
    };
    assert_eq!(config.host, "mail.example.com");
    assert_eq!((config.tls, config.port), (SmtpTls::StartTls, 587));
    assert_eq!(config.credentials, None);
}

#[test]
fn smtp_reads_every_option_and_a_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "password", "s3cret\n");
    let settings = settings(
        &[
            ("ONBOARD_NOTIFIER", "SMTP"),
            ("SMTP_HOST", "mail.example.com"),
            ("SMTP_PORT", "2525"),
            ("SMTP_TLS", "tls"),
            ("SMTP_USERNAME", "mailer"),
            ("SMTP_PASSWORD_FILE", file.to_str().unwrap()),
            ("SMTP_CA_FILE", "/etc/ca.pem"),
            ("SMTP_HELO_NAME", "onboard.example.com"),
        ],
        Role::Up,
    )
    .unwrap();
    let NotifierSettings::Smtp(config) = settings.notifier else {
        panic!("expected SMTP");
    };
    assert_eq!((config.tls, config.port), (SmtpTls::Tls, 2525));
    let credentials = config.credentials.unwrap();
    assert_eq!(credentials.username, "mailer");
    assert_eq!(credentials.password.expose(), "s3cret");
    assert_eq!(config.ca_file, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(config.hello_name.as_deref(), Some("onboard.example.com"));
}

#[test]
fn invalid_notifier_settings_name_the_variable_at_fault() {
    let smtp = ("ONBOARD_NOTIFIER", "smtp");
    let host = ("SMTP_HOST", "h");
    let cases: [(&[(&str, &str)], &str); 8] = [
        (&[smtp], "SMTP_HOST"),
        (&[smtp, host, ("SMTP_PORT", "0")], "SMTP_PORT"),
        (&[smtp, host, ("SMTP_PORT", "smtp")], "SMTP_PORT"),
        (&[smtp, host, ("SMTP_TLS", "ssl")], "SMTP_TLS"),
        (&[smtp, host, ("SMTP_USERNAME", "u")], "SMTP_PASSWORD"),
        (
            &[
                smtp,
                host,
                ("SMTP_PASSWORD", "p"),
                ("SMTP_PASSWORD_FILE", "/f"),
            ],
            "SMTP_PASSWORD_FILE",
        ),
        (
            &[
                ("ONBOARD_NOTIFIER", "webhook"),
                ("WEBHOOK_URL", "https://h/x"),
            ],
            "WEBHOOK_SECRET",
        ),
        (&[("ONBOARD_NOTIFIER", "webhook")], "WEBHOOK_URL"),
    ];
    for (vars, named) in cases {
        let err = settings(vars, Role::Up).unwrap_err().to_string();
        assert!(err.contains(named), "{vars:?}: {err}");
    }
}

#[test]
fn flags_set_their_keys_over_the_environment() {
    let mut flags = Flags::default();
    flags
        .set("bus.kind", "embedded")
        .set("consumer.batch_size", 5_i64)
        .set("gateway.allowed_origins", vec!["http://a:1".to_owned()]);
    let settings = loaded(
        None,
        &[
            ("KAFKA_BROKERS", "k:9092"),
            ("ONBOARD_ALLOWED_ORIGINS", "http://b:2, http://c:3"),
        ],
        flags,
    )
    .settings(Role::Up)
    .unwrap();
    assert!(matches!(settings.bus, BusSettings::Embedded { .. }));
    assert_eq!(settings.consumer.batch_size, 5);
    assert_eq!(settings.gateway.allowed_origins, ["http://a:1"]);
    let from_env = self::settings(
        &[("ONBOARD_ALLOWED_ORIGINS", "http://b:2, http://c:3")],
        Role::Up,
    )
    .unwrap();
    assert_eq!(
        from_env.gateway.allowed_origins,
        ["http://b:2", "http://c:3"]
    );
}

#[test]
fn a_secret_given_twice_is_reported_even_where_it_is_not_used() {
    let text = settings(
        &[
            ("KAFKA_PASSWORD", "p"),
            ("KAFKA_PASSWORD_FILE", "/run/secrets/p"),
        ],
        Role::Api,
    )
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("bus.kafka.password (KAFKA_PASSWORD / KAFKA_PASSWORD_FILE)"),
        "{text}"
    );
    assert!(text.contains("auth.jwt_secret"), "{text}");
}

#[test]
fn uploaded_documents_go_where_documents_dir_says_or_into_the_data_directory() {
    use crate::adapters::fs_documents::DocumentSettings;
    let default = settings(&[("ONBOARD_DATA_DIR", "/srv/onboard")], Role::Up).unwrap();
    assert_eq!(
        default.documents,
        DocumentSettings::Filesystem {
            dir: PathBuf::from("/srv/onboard/documents")
        }
    );
    let chosen = settings(&[("ONBOARD_DOCUMENTS_DIR", "/mnt/uploads")], Role::Up).unwrap();
    assert_eq!(
        chosen.documents,
        DocumentSettings::Filesystem {
            dir: PathBuf::from("/mnt/uploads")
        }
    );
}

#[test]
fn the_dynamodb_store_names_its_tables_after_the_environment_unless_a_variable_does() {
    let settings = settings(
        &[
            ("ONBOARD_STORE", "dynamodb"),
            ("ENVIRONMENT", "staging"),
            ("AWS_REGION", "eu-west-1"),
            ("EVENTS_TABLE", "my-events"),
        ],
        Role::Up,
    )
    .unwrap();
    let StoreSettings::Dynamodb { region, tables } = settings.store else {
        panic!("expected DynamoDB");
    };
    assert_eq!(region.as_deref(), Some("eu-west-1"));
    assert_eq!(tables.users, "users-staging");
    assert_eq!(tables.audit, "audit-logs-staging");
    assert_eq!(tables.websocket, "websocket-connections-staging");
    assert_eq!(tables.outbox, "onboard-outbox-staging");
    assert_eq!(tables.events, "my-events");
}

#[test]
fn bad_or_shared_dynamodb_table_names_are_reported_together() {
    let problems = settings(
        &[
            ("ONBOARD_STORE", "dynamodb"),
            ("USERS_TABLE", "no spaces allowed"),
            ("OUTBOX_TABLE", "x"),
            ("COUNTERS_TABLE", "applications-dev"),
        ],
        Role::Up,
    )
    .unwrap_err();
    let text = problems.to_string();
    assert!(text.contains("store.tables.users"), "{text}");
    assert!(text.contains("store.tables.outbox"), "{text}");
    assert!(text.contains("store.tables.counters"), "{text}");
    assert!(text.contains("USERS_TABLE"), "{text}");
}

#[test]
fn the_sns_notifier_and_the_s3_document_store_are_chosen_with_their_settings() {
    use crate::adapters::fs_documents::DocumentSettings;
    use crate::adapters::s3_documents::S3Config;
    use crate::adapters::sns::SnsConfig;
    let arn = "arn:aws:sns:eu-west-1:123456789012:onboard-ai-notifications-dev";
    let chosen = settings(
        &[
            ("ONBOARD_NOTIFIER", "sns"),
            ("SNS_TOPIC_ARN", arn),
            ("ONBOARD_DOCUMENTS", "s3"),
            ("ONBOARD_DOCUMENTS_BUCKET", "onboard-ai-documents-dev"),
            ("ONBOARD_DOCUMENTS_PREFIX", "uploads"),
            ("AWS_REGION", "eu-west-1"),
        ],
        Role::Up,
    )
    .unwrap();
    let region = Some("eu-west-1".to_owned());
    assert_eq!(
        chosen.notifier,
        NotifierSettings::Sns(SnsConfig {
            topic_arn: arn.into(),
            region: region.clone(),
        })
    );
    assert_eq!(
        chosen.documents,
        DocumentSettings::S3(S3Config {
            bucket: "onboard-ai-documents-dev".into(),
            prefix: "uploads/".into(),
            region,
        })
    );
}

#[test]
fn a_bad_topic_arn_bucket_prefix_or_document_store_is_reported_with_its_variable() {
    let problems = settings(
        &[
            ("ONBOARD_NOTIFIER", "sns"),
            ("SNS_TOPIC_ARN", "onboard-notifications"),
            ("ONBOARD_DOCUMENTS", "s3"),
            ("ONBOARD_DOCUMENTS_PREFIX", "../elsewhere"),
        ],
        Role::Up,
    )
    .unwrap_err();
    let text = problems.to_string();
    for expected in [
        "notifier.sns.topic_arn (SNS_TOPIC_ARN): 'onboard-notifications' is not an SNS topic ARN",
        "documents.bucket (ONBOARD_DOCUMENTS_BUCKET): required with documents.kind = s3",
        "documents.prefix (ONBOARD_DOCUMENTS_PREFIX): '../elsewhere' is not a key prefix",
    ] {
        assert!(text.contains(expected), "{expected} missing from: {text}");
    }
    assert_eq!(problems.0.len(), 3, "{text}");
    let unknown = settings(&[("ONBOARD_DOCUMENTS", "ftp")], Role::Up)
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("documents.kind (ONBOARD_DOCUMENTS): 'ftp' is not a document store"),
        "{unknown}"
    );
}

#[test]
fn an_issuer_needs_an_audience_and_urls_that_cannot_be_tampered_with_all_reported_at_once() {
    let problems = settings(
        &[
            ("ONBOARD_AUTH_ISSUER", "http://idp.example.com/realm"),
            ("ONBOARD_AUTH_JWKS_URL", "ftp://idp.example.com/keys"),
            ("ONBOARD_AUTH_SCOPES", "profile email"),
        ],
        Role::Up,
    )
    .unwrap_err()
    .to_string();
    for expected in [
        "auth.oidc.issuer (ONBOARD_AUTH_ISSUER): 'http://idp.example.com/realm' must use https",
        "auth.oidc.jwks_url (ONBOARD_AUTH_JWKS_URL): 'ftp://idp.example.com/keys' is a ftp URL",
        "auth.oidc.audience (ONBOARD_AUTH_AUDIENCE): required with an issuer",
        "auth.oidc.scopes (ONBOARD_AUTH_SCOPES): 'profile email' lacks openid",
    ] {
        assert!(problems.contains(expected), "{expected}\n{problems}");
    }
    let problems = settings(&[("ONBOARD_AUTH_AUDIENCE", "client")], Role::Up)
        .unwrap_err()
        .to_string();
    assert!(
        problems.contains("is set but auth.oidc.issuer is not"),
        "{problems}"
    );
    let problems = settings(
        &[
            ("ONBOARD_AUTH_ISSUER", "not a url"),
            ("ONBOARD_AUTH_AUDIENCE", "c"),
        ],
        Role::Up,
    )
    .unwrap_err()
    .to_string();
    assert!(problems.contains("'not a url' is not a URL"), "{problems}");
}

#[test]
fn an_issuer_with_an_audience_is_trusted_and_the_client_id_defaults_to_the_audience() {
    let settings = settings(
        &[
            (
                "ONBOARD_AUTH_ISSUER",
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X",
            ),
            ("ONBOARD_AUTH_AUDIENCE", "app-client"),
            (
                "ONBOARD_AUTH_JWKS_URL",
                "http://127.0.0.1:5000/eu-west-1_X/.well-known/jwks.json",
            ),
        ],
        Role::Up,
    )
    .unwrap();
    let oidc = settings.oidc.expect("an issuer");
    assert_eq!(oidc.audience, "app-client");
    assert_eq!(oidc.client_id, "app-client");
    assert_eq!(oidc.customer_claim, "sub");
    assert_eq!(
        oidc.jwks_url.unwrap().as_str(),
        "http://127.0.0.1:5000/eu-west-1_X/.well-known/jwks.json"
    );
    assert!(settings_without_issuer().oidc.is_none());
}

fn settings_without_issuer() -> crate::app::Settings {
    settings(&[], Role::Up).unwrap()
}

#[test]
fn a_wss_websocket_endpoint_names_api_gateway_and_is_checked_per_role() {
    use crate::wiring::PusherSettings;
    let base = [
        ("KAFKA_BROKERS", "127.0.0.1:9092"),
        ("ONBOARD_JWT_SECRET", JWT),
        ("AWS_REGION", "eu-west-1"),
    ];
    let with = |endpoint: &str, role| {
        let mut vars = base.to_vec();
        vars.push(("WEBSOCKET_ENDPOINT", endpoint));
        settings(&vars, role)
    };
    let lambda = with(
        "wss://abc.execute-api.eu-west-1.amazonaws.com/dev",
        Role::Lambda,
    )
    .unwrap();
    let PusherSettings::ApiGateway { endpoint, region } = &lambda.pusher else {
        panic!("a wss:// endpoint selects API Gateway: {:?}", lambda.pusher);
    };
    assert_eq!(
        endpoint.as_str(),
        "https://abc.execute-api.eu-west-1.amazonaws.com/dev"
    );
    assert_eq!(region.as_deref(), Some("eu-west-1"));
    let consumer = with(
        "wss://abc.execute-api.eu-west-1.amazonaws.com/dev",
        Role::Consumer,
    );
    assert!(matches!(
        consumer.unwrap().pusher,
        PusherSettings::ApiGateway { .. }
    ));
    for (endpoint, role) in [
        (
            "wss://abc.execute-api.eu-west-1.amazonaws.com",
            Role::Lambda,
        ),
        ("https://gw.example.com", Role::Lambda),
        (
            "wss://abc.execute-api.eu-west-1.amazonaws.com/dev",
            Role::Gateway,
        ),
    ] {
        let problems = with(endpoint, role).unwrap_err();
        assert!(
            problems.0.iter().any(|p| p.key == "gateway.advertise_url"),
            "{endpoint} as {role}: {problems}"
        );
    }
}

#[test]
fn the_edge_timeouts_metrics_listener_and_deregistration_batch_are_read_and_checked() {
    let settings = settings(
        &[
            ("ONBOARD_REQUEST_TIMEOUT_SECONDS", "90"),
            ("ONBOARD_IDLE_TIMEOUT_SECONDS", "20"),
            ("ONBOARD_METRICS_LISTEN", "127.0.0.1:9464"),
            ("ONBOARD_WS_DEREGISTRATION_BATCH", "50"),
        ],
        Role::Up,
    )
    .unwrap();
    assert_eq!(
        settings.http.request_timeout,
        std::time::Duration::from_secs(90)
    );
    assert_eq!(
        settings.http.idle_timeout,
        std::time::Duration::from_secs(20)
    );
    assert_eq!(
        settings.metrics_listen,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(settings.gateway.deregistration_batch, 50);

    let text = settings_problems(&[
        ("ONBOARD_HEADER_READ_TIMEOUT_SECONDS", "10"),
        ("ONBOARD_IDLE_TIMEOUT_SECONDS", "60"),
        ("ONBOARD_REQUEST_TIMEOUT_SECONDS", "0"),
        ("ONBOARD_METRICS_LISTEN", "scraper-only"),
        ("ONBOARD_WS_DEREGISTRATION_BATCH", "0"),
    ]);
    for expected in [
        "http.idle_timeout_seconds (ONBOARD_IDLE_TIMEOUT_SECONDS): 60 exceeds http.header_read_timeout_seconds (10)",
        "http.request_timeout_seconds (ONBOARD_REQUEST_TIMEOUT_SECONDS)",
        "metrics.listen (ONBOARD_METRICS_LISTEN)",
        "gateway.deregistration_batch (ONBOARD_WS_DEREGISTRATION_BATCH)",
    ] {
        assert!(text.contains(expected), "{expected} missing from: {text}");
    }
}

#[test]
fn the_postgres_pool_size_defaults_by_cpus_and_is_read_and_checked() {
    let url = ("DATABASE_URL", "postgres://u:pw@db:5432/onboard");
    let pool_of = |vars: &[(&str, &str)]| match settings(vars, Role::Up).unwrap().store {
        StoreSettings::Postgres {
            max_connections, ..
        } => max_connections,
        other => panic!("expected PostgreSQL, got {other:?}"),
    };
    assert_eq!(
        pool_of(&[url]),
        crate::adapters::postgres::default_max_connections()
    );
    assert_eq!(pool_of(&[url, ("ONBOARD_STORE_MAX_CONNECTIONS", "4")]), 4);
    for bad in ["0", "1001"] {
        let text = settings_problems(&[
            url,
            ("ONBOARD_STORE_MAX_CONNECTIONS", bad),
            ("ONBOARD_WS_DEREGISTRATION_BATCH", "0"),
        ]);
        for expected in [
            format!(
                "store.max_connections (ONBOARD_STORE_MAX_CONNECTIONS): {bad} is outside 1..=1000"
            ),
            "gateway.deregistration_batch".to_string(),
        ] {
            assert!(text.contains(&expected), "{expected} missing from: {text}");
        }
    }
}

fn settings_problems(vars: &[(&str, &str)]) -> String {
    settings(vars, Role::Up).unwrap_err().to_string()
}

#[test]
fn lifecycle_keys_set_the_purge_and_out_of_range_ones_are_all_reported() {
    let good = settings(
        &[
            ("ONBOARD_LIFECYCLE_INTERVAL_SECONDS", "60"),
            ("ONBOARD_OUTBOX_RETENTION_HOURS", "24"),
            ("ONBOARD_IDEMPOTENCY_RETENTION_HOURS", "48"),
            ("ONBOARD_PURGE_BATCH_SIZE", "100"),
            ("ONBOARD_BUS_SEGMENT_BYTES", "4096"),
        ],
        Role::Up,
    )
    .unwrap();
    assert_eq!(good.lifecycle.interval, std::time::Duration::from_secs(60));
    assert_eq!(
        good.lifecycle.outbox_retention,
        std::time::Duration::from_secs(24 * 3_600)
    );
    assert_eq!(
        good.lifecycle.idempotency_retention,
        std::time::Duration::from_secs(48 * 3_600)
    );
    assert_eq!(good.lifecycle.batch_size, 100);
    assert!(matches!(
        good.bus,
        BusSettings::Embedded {
            segment_bytes: 4096,
            ..
        }
    ));

    let problems = settings(
        &[
            ("ONBOARD_LIFECYCLE_INTERVAL_SECONDS", "0"),
            ("ONBOARD_OUTBOX_RETENTION_HOURS", "0"),
            ("ONBOARD_IDEMPOTENCY_RETENTION_HOURS", "-1"),
            ("ONBOARD_PURGE_BATCH_SIZE", "0"),
            ("ONBOARD_BUS_SEGMENT_BYTES", "10"),
        ],
        Role::Up,
    )
    .unwrap_err()
    .to_string();
    for key in [
        "lifecycle.interval_seconds (ONBOARD_LIFECYCLE_INTERVAL_SECONDS)",
        "lifecycle.outbox_retention_hours (ONBOARD_OUTBOX_RETENTION_HOURS)",
        "lifecycle.idempotency_retention_hours (ONBOARD_IDEMPOTENCY_RETENTION_HOURS)",
        "lifecycle.batch_size (ONBOARD_PURGE_BATCH_SIZE)",
        "bus.segment_bytes (ONBOARD_BUS_SEGMENT_BYTES)",
    ] {
        assert!(problems.contains(key), "{key} missing from: {problems}");
    }
}

#[test]
fn an_otlp_endpoint_must_be_an_http_url_and_the_service_needs_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "onboard.toml",
        "[telemetry]\nservice_name = \"\"\n",
    );
    let problems = loaded(
        Some(&file),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")],
        Flags::default(),
    )
    .settings(Role::Up)
    .unwrap_err();
    let text = problems.to_string();
    for expected in [
        "telemetry.otlp_endpoint (OTEL_EXPORTER_OTLP_ENDPOINT): 'collector:4317' must be an http:// or https:// URL",
        "telemetry.service_name (OTEL_SERVICE_NAME): must not be empty",
    ] {
        assert!(text.contains(expected), "{expected} missing from: {text}");
    }
    assert_eq!(problems.0.len(), 2, "{text}");
    let set = settings(
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")],
        Role::Up,
    );
    assert!(set.is_ok(), "{:?}", set.err());
}
