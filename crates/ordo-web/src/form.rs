//! `application/x-www-form-urlencoded` bodies as a list of pairs: the bulk form repeats
//! `order` once per checked row, which a struct-shaped decoder cannot express.

pub(crate) struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        FormData(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, trimmed; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The raw value, untrimmed (for fields echoed back into a form unchanged).
    pub fn raw(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// Builds a query string from the non-empty pairs.
pub(crate) fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

pub(crate) fn encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

pub(crate) fn decode(v: &str) -> String {
    form_urlencoded::parse(format!("v={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl FormData {
    /// A `multipart/form-data` body (a form with a file input): each part becomes a pair of
    /// its name and its content as text; a file's content is read as UTF-8.
    pub fn parse_multipart(body: &[u8], boundary: &str) -> Option<Self> {
        let delimiter = format!("--{boundary}");
        let text = String::from_utf8_lossy(body);
        let mut pairs = Vec::new();
        for part in text.split(delimiter.as_str()).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let part = part.strip_prefix("\r\n").unwrap_or(part);
            let (head, content) = part.split_once("\r\n\r\n")?;
            let content = content.strip_suffix("\r\n").unwrap_or(content);
            let name = head.lines().find_map(|l| {
                let l = l.trim();
                if !l.to_ascii_lowercase().starts_with("content-disposition:") {
                    return None;
                }
                l.split(';').find_map(|p| {
                    p.trim()
                        .strip_prefix("name=")
                        .map(|v| v.trim_matches('"').to_string())
                })
            })?;
            pairs.push((name, content.to_string()));
        }
        Some(FormData(pairs))
    }
}

/// The boundary of a `multipart/form-data` content type.
pub(crate) fn multipart_boundary(content_type: &str) -> Option<String> {
    let (kind, rest) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    rest.split(';').find_map(|p| {
        p.trim()
            .strip_prefix("boundary=")
            .map(|b| b.trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multipart_fields_and_files() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\nsku,name\r\nA-1,Mug\r\n\r\n--XX--\r\n";
        let b = multipart_boundary("multipart/form-data; boundary=XX").unwrap();
        let f = FormData::parse_multipart(body.as_bytes(), &b).unwrap();
        assert_eq!(f.get("csrf").as_deref(), Some("tok"));
        assert_eq!(f.raw("file"), "sku,name\r\nA-1,Mug\r\n");
    }
}
