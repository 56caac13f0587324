//! CSV as pasted or uploaded: RFC 4180 cells (commas, double quotes with `""` escapes,
//! `\n` or `\r\n` endings), each record with the line it starts on, so errors can name it.

/// The records of `text` with their 1-based starting line; blank lines are skipped.
pub(crate) fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    let finish = |row: &mut Vec<String>, cell: &mut String, out: &mut Vec<_>, start: usize| {
        row.push(std::mem::take(cell).trim().to_string());
        let r = std::mem::take(row);
        if !(r.len() == 1 && r[0].is_empty()) {
            out.push((start, r));
        }
    };
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cell.push('\n');
                }
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            '"' if cell.trim().is_empty() => {
                cell.clear();
                quoted = true;
            }
            ',' => row.push(std::mem::take(&mut cell).trim().to_string()),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                finish(&mut row, &mut cell, &mut out, start);
                line += 1;
                start = line;
            }
            _ => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        finish(&mut row, &mut cell, &mut out, start);
    }
    out
}

/// A cell for CSV output: quoted when it holds a comma, quote or line break.
pub(crate) fn cell(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quotes_and_line_numbers() {
        let r = records(
            "sku,name\n\nA-1, \"Mug, big\"\r\nB-2,\"two\nlines\"\nC-3,\"say \"\"hi\"\"\"\n",
        );
        let got: Vec<(usize, Vec<&str>)> = r
            .iter()
            .map(|(n, c)| (*n, c.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            got,
            [
                (1, vec!["sku", "name"]),
                (3, vec!["A-1", "Mug, big"]),
                (4, vec!["B-2", "two\nlines"]),
                (6, vec!["C-3", "say \"hi\""]),
            ]
        );
        assert_eq!(cell("a,b"), "\"a,b\"");
    }
}
