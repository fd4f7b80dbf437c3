//! The layers, lowest first: the TOML file (`--config PATH` or `ONBOARD_CONFIG`), then the
//! environment, then command-line flags; each later one overrides key by key.

use super::env::{Environment, Kind, CONFIG_FILE, VARIABLES};
use super::problems::Problems;
use super::secret::{check_pairs, SECRET_KEYS};
use super::tree::Config;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A configuration after layering, with the problems found so far (unreadable file, unknown
/// keys, a variable that is not a number, ...).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub problems: Problems,
    /// The file read, if any.
    pub file: Option<PathBuf>,
}

/// The flags a command was given, as configuration keys: the top layer.
#[derive(Debug, Clone, Default)]
pub struct Flags(Table);

impl Flags {
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        set_path(&mut self.0, key, value.into());
        self
    }

    /// Sets `key` only when the flag was given.
    pub fn set_some(&mut self, key: &str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(value) = value {
            self.set(key, value);
        }
        self
    }

    pub fn set_path(&mut self, key: &str, path: Option<&Path>) -> &mut Self {
        self.set_some(key, path.map(|p| p.to_string_lossy().into_owned()))
    }
}

/// Layers the file named by `file` (else by `ONBOARD_CONFIG`), `env` and `flags`.
pub fn load(file: Option<&Path>, env: &Environment, flags: Flags) -> Loaded {
    let mut problems = Problems::default();
    let file = file
        .map(Path::to_path_buf)
        .or_else(|| env.get(CONFIG_FILE).map(PathBuf::from));
    let mut table = match &file {
        Some(path) => file_layer(path, &mut problems),
        None => Table::new(),
    };
    merge(&mut table, env_layer(env, &mut problems));
    merge(&mut table, flags.0);
    check_pairs(
        |inline, file| get_path(&table, inline).is_some() && get_path(&table, file).is_some(),
        &mut problems,
    );
    let config = match Value::Table(table).try_into::<Config>() {
        Ok(config) => config,
        Err(error) => {
            problems.push("configuration", error.message().to_owned());
            Config::default()
        }
    };
    Loaded {
        config,
        problems,
        file,
    }
}

/// The file's keys; a file that cannot be read or does not fit the tree is a problem (with its
/// line) and contributes nothing, so the other layers' problems are still found.
fn file_layer(path: &Path, problems: &mut Problems) -> Table {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            problems.push(name, format!("cannot read the configuration file: {error}"));
            return Table::new();
        }
    };
    match toml::from_str::<Config>(&text).and_then(|_| text.parse::<Table>()) {
        Ok(table) => table,
        Err(error) => {
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let at = line.map_or(String::new(), |n| format!(" (line {n})"));
            let mut message = error.message().trim().to_owned();
            // "invalid type: integer `123…`" would show a secret of the wrong type.
            if line.is_some_and(|n| is_secret_line(text.lines().nth(n - 1).unwrap_or(""))) {
                message = mask_quoted(&message);
            }
            problems.push(name, format!("{message}{at}"));
            Table::new()
        }
    }
}

/// Whether a line of the file sets a secret (`password = …`, `jwt_secret = …`).
fn is_secret_line(line: &str) -> bool {
    let key = line.split('=').next().unwrap_or("").trim();
    SECRET_KEYS
        .iter()
        .any(|secret| secret.rsplit('.').next() == Some(key))
}

/// `message` with every `quoted` value replaced by `***`.
fn mask_quoted(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                crate::adapters::secret::MASK
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// The variables of [`VARIABLES`] that are set, as keys.
fn env_layer(env: &Environment, problems: &mut Problems) -> Table {
    let mut table = Table::new();
    let mut set_by: Vec<(&str, &str)> = Vec::new();
    for var in VARIABLES {
        let Some(raw) = env.get(var.name) else {
            continue;
        };
        let value = match var.kind {
            Kind::Text => Value::String(raw.to_owned()),
            Kind::Number => match raw.trim().parse::<i64>() {
                Ok(n) => Value::Integer(n),
                Err(_) => {
                    problems.push(var.key, format!("'{raw}' is not a whole number"));
                    continue;
                }
            },
            Kind::Bool => match raw.trim().parse::<bool>() {
                Ok(b) => Value::Boolean(b),
                Err(_) => {
                    problems.push(var.key, format!("'{raw}' is not true or false"));
                    continue;
                }
            },
            Kind::List => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Value::String(item.to_owned()))
                    .collect(),
            ),
        };
        // A seed alias and Onboard's own name for one key may both be set, if they agree.
        if let Some((_, first)) = set_by.iter().find(|(key, _)| *key == var.key) {
            if get_path(&table, var.key) != Some(&value) {
                problems.push(
                    var.key,
                    format!("{first} and {} disagree; set one of them", var.name),
                );
            }
            continue;
        }
        set_by.push((var.key, var.name));
        set_path(&mut table, var.key, value);
    }
    table
}

/// Lays `upper` over `lower`, key by key; a secret given in `upper` in either form replaces
/// both forms in `lower`.
fn merge(lower: &mut Table, upper: Table) {
    for key in SECRET_KEYS {
        let file = format!("{key}_file");
        if get_path(&upper, key).is_some() || get_path(&upper, &file).is_some() {
            remove_path(lower, key);
            remove_path(lower, &file);
        }
    }
    deep_merge(lower, upper);
}

fn deep_merge(lower: &mut Table, upper: Table) {
    for (key, value) in upper {
        match (lower.get_mut(&key), value) {
            (Some(Value::Table(below)), Value::Table(above)) => deep_merge(below, above),
            (_, value) => {
                lower.insert(key, value);
            }
        }
    }
}

fn get_path<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let (parents, last) = split(key);
    let mut table = table;
    for part in parents {
        table = table.get(part)?.as_table()?;
    }
    table.get(last)
}

fn set_path(table: &mut Table, key: &str, value: Value) {
    let (parents, last) = split(key);
    let mut table = table;
    for part in parents {
        let entry = table
            .entry(part)
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        table = entry.as_table_mut().expect("a table was just put here");
    }
    table.insert(last.to_owned(), value);
}

fn remove_path(table: &mut Table, key: &str) {
    let (parents, last) = split(key);
    let mut table = table;
    for part in parents {
        match table.get_mut(part).and_then(Value::as_table_mut) {
            Some(inner) => table = inner,
            None => return,
        }
    }
    table.remove(last);
}

fn split(key: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    (parts, last)
}
