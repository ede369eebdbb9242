//! URL templates of a profile: the placeholders and forms a template may take.

use super::parse::Ctx;
use super::{URL_PLACEHOLDERS, UrlTemplate};
use crate::profile::error::ProfileError;

/// Checks a URL template: known placeholders only, starts with a base placeholder or a literal
/// http(s) URL, printable ASCII without spaces; a PDS URL must render to https.
pub(super) fn check_template(
    cx: &Ctx<'_>,
    key: &str,
    template: String,
    https_only: bool,
) -> Result<UrlTemplate, ProfileError> {
    if !template.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(cx.err(key, "printable ASCII without spaces only"));
    }
    // Every `{...}` must be a known placeholder.
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let close = after
            .find('}')
            .ok_or_else(|| cx.err(key, "an unclosed '{'"))?;
        let placeholder = &after[..=close];
        if !URL_PLACEHOLDERS.contains(&placeholder) {
            return Err(cx.err(
                key,
                format!(
                    "unknown placeholder {placeholder}; use {}",
                    URL_PLACEHOLDERS.join(", ")
                ),
            ));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(cx.err(key, "a '}' without '{'"));
    }
    let ok_start = if https_only {
        template.starts_with("{pds_base_url}") || template.starts_with("https://")
    } else {
        template.starts_with("{public_base_url}")
            || template.starts_with("{pds_base_url}")
            || template.starts_with("http://")
            || template.starts_with("https://")
    };
    if !ok_start {
        return Err(cx.err(
            key,
            if https_only {
                "start with {pds_base_url} or https://"
            } else {
                "start with {public_base_url}, {pds_base_url}, http:// or https://"
            },
        ));
    }
    Ok(UrlTemplate(template))
}
