//! libpq's service file format (an INI dialect), parsed without I/O.

use keeperdb_plugin::Error;

/// One `[name]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Service name.
    pub name: String,
    /// File it came from.
    pub file: String,
    /// Line of its `[name]` header.
    pub line: usize,
    /// `key=value` settings in file order.
    pub settings: Vec<(String, String)>,
}

impl Service {
    /// `file:line` of the section header.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// Parse a service file; `file` names it in errors. Blank lines and `#` comments are ignored,
/// settings before the first section are ignored (as libpq does).
pub fn parse(text: &str, file: &str) -> Result<Vec<Service>, Error> {
    let mut services: Vec<Service> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{file}:{n}");
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| {
                Error::invalid_data(
                    at(),
                    "syntax error in service file: section header without `]`",
                )
            })?;
            if name.is_empty() {
                return Err(Error::invalid_data(at(), "empty service name"));
            }
            services.push(Service {
                name: name.to_string(),
                file: file.to_string(),
                line: n,
                settings: Vec::new(),
            });
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| {
            Error::invalid_data(
                at(),
                "syntax error in service file: expected `keyword=value`",
            )
        })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::invalid_data(
                at(),
                "syntax error in service file: empty keyword",
            ));
        }
        if key == "service" {
            return Err(Error::invalid_data(
                at(),
                "nested service specifications not supported in service file",
            ));
        }
        if let Some(service) = services.last_mut() {
            service
                .settings
                .push((key.to_string(), value.trim().to_string()));
        }
    }
    Ok(services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_comments_and_blanks() {
        let text = "# services\nignored=before\n[prod]\nhost=db.internal\nport = 5433\n\n  dbname=orders  \n[dev]\nhost=localhost\n";
        let services = parse(text, "f").unwrap();
        assert_eq!(services.len(), 2);
        assert_eq!(services[0].name, "prod");
        assert_eq!(
            services[0].settings,
            vec![
                ("host".to_string(), "db.internal".to_string()),
                ("port".to_string(), "5433".to_string()),
                ("dbname".to_string(), "orders".to_string()),
            ]
        );
        assert_eq!(services[1].origin(), "f:8");
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let err = parse("[a]\nhost db\n", "/etc/pg_service.conf").unwrap_err();
        match err {
            Error::InvalidData(d) => {
                assert_eq!(d.what, "/etc/pg_service.conf:2");
                assert!(d.message.contains("keyword=value"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("[a]\nservice=b\n", "f").is_err());
        assert!(parse("[a\n", "f").is_err());
    }
}
