//! Example requests of the workflow that the tests, the cluster harness and `onboard bench`
//! all send, so a change to what an upload needs is made in one place.

/// A small valid PDF, so uploads pass content sniffing.
pub fn pdf_bytes() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

/// The documents step's form: a passport of `full_name`, valid until 2035.
pub fn passport_form(full_name: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("documentType", "passport")
        .text("documentNumber", "X1234567")
        .text("fullName", full_name.to_string())
        .text("expiryDate", "2035-01-01")
        .part(
            "file",
            reqwest::multipart::Part::bytes(pdf_bytes())
                .file_name("passport.pdf")
                .mime_str("application/pdf")
                .expect("a valid MIME type"),
        )
}

/// The boundary of [`passport_multipart`]'s body (its `Content-Type` is
/// `multipart/form-data; boundary=` this).
pub const MULTIPART_BOUNDARY: &str = "onboard-test-boundary";

/// The documents step's form as raw multipart bytes, for tests that send a body by hand (in
/// parts, or at a chosen size): John Doe's passport text fields, then `file` as `p.pdf`.
pub fn passport_multipart(file: &[u8]) -> Vec<u8> {
    let b = MULTIPART_BOUNDARY;
    let mut body = Vec::with_capacity(file.len() + 1024);
    for (name, value) in [
        ("documentType", "passport"),
        ("documentNumber", "X1234567"),
        ("fullName", "John Doe"),
        ("expiryDate", "2035-01-01"),
    ] {
        body.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.pdf\"\r\n\
             Content-Type: application/pdf\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    body
}
