//! TLS for `onboard watch` over `wss://`: rustls with the webpki (Mozilla) roots, plus the
//! certificates of a PEM file for a gateway behind a private CA (`watch.ca_file`).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the trusted certificates could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the CA file {path}: {reason}")]
pub struct CaFileError {
    pub path: PathBuf,
    pub reason: String,
}

/// The client configuration every `wss://` connection of one watch uses.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, CaFileError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let failed = |reason: String| CaFileError {
            path: path.to_path_buf(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| failed(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(e.to_string()))?;
        if certs.is_empty() {
            return Err(failed("it holds no PEM certificate".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| failed(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring offers TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let err = client_config(Some(&path)).expect_err("refused");
        assert!(err.to_string().contains("empty.pem"), "{err}");
        assert!(client_config(Some(&dir.path().join("missing.pem"))).is_err());
        assert!(client_config(None).is_ok());
    }
}
