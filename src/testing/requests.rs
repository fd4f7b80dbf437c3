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
