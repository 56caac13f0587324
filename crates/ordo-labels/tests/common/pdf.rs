//! A small, independent PDF reader for the tests: it follows `startxref` to the
//! cross-reference table, checks every offset points at its object, parses objects (dicts,
//! arrays, names, numbers, strings, references, streams), walks the page tree and reads
//! content streams back into text runs and filled rectangles. It shares no code with the
//! writer, so a writer bug cannot hide in a matching reader bug.

#![allow(dead_code)]

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    Null,
    Bool(bool),
    Num(f64),
    Name(String),
    Str(Vec<u8>),
    Array(Vec<Obj>),
    Dict(BTreeMap<String, Obj>),
    Ref(u32, u16),
    Stream(BTreeMap<String, Obj>, Vec<u8>),
}

impl Obj {
    pub fn dict(&self) -> &BTreeMap<String, Obj> {
        match self {
            Obj::Dict(d) | Obj::Stream(d, _) => d,
            other => panic!("not a dictionary: {other:?}"),
        }
    }
    pub fn get(&self, key: &str) -> &Obj {
        self.dict()
            .get(key)
            .unwrap_or_else(|| panic!("missing /{key} in {self:?}"))
    }
    pub fn num(&self) -> f64 {
        match self {
            Obj::Num(n) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Obj::Name(n) => n,
            other => panic!("not a name: {other:?}"),
        }
    }
    pub fn array(&self) -> &[Obj] {
        match self {
            Obj::Array(a) => a,
            other => panic!("not an array: {other:?}"),
        }
    }
    pub fn reference(&self) -> u32 {
        match self {
            Obj::Ref(n, _) => *n,
            other => panic!("not a reference: {other:?}"),
        }
    }
}

pub struct Pdf {
    pub objects: BTreeMap<u32, Obj>,
    pub trailer: BTreeMap<String, Obj>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextRun {
    pub font: String,
    pub size: f64,
    pub x: f64,
    pub y: f64,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

pub struct Page {
    pub media_box: [f64; 4],
    /// Resource name → BaseFont.
    pub fonts: BTreeMap<String, String>,
    pub content: Vec<u8>,
}

impl Page {
    pub fn width(&self) -> f64 {
        self.media_box[2] - self.media_box[0]
    }
    pub fn height(&self) -> f64 {
        self.media_box[3] - self.media_box[1]
    }

    /// Every `Tj` / `TJ` string with its font, size and position.
    pub fn text_runs(&self) -> Vec<TextRun> {
        let mut runs = Vec::new();
        let mut operands: Vec<Obj> = Vec::new();
        let (mut font, mut size, mut x, mut y) = (String::new(), 0.0, 0.0, 0.0);
        let mut lexer = Lexer::new(&self.content, 0);
        while let Some(token) = lexer.operand_or_operator() {
            match token {
                Token::Operand(o) => operands.push(o),
                Token::Operator(op) => {
                    match op.as_str() {
                        "BT" => {
                            x = 0.0;
                            y = 0.0;
                        }
                        "Tf" => {
                            font = operands[0].name().to_owned();
                            size = operands[1].num();
                        }
                        "Td" => {
                            x += operands[0].num();
                            y += operands[1].num();
                        }
                        "Tj" => runs.push(TextRun {
                            font: self.fonts.get(&font).cloned().unwrap_or(font.clone()),
                            size,
                            x,
                            y,
                            text: decode_win_ansi(match &operands[0] {
                                Obj::Str(s) => s,
                                other => panic!("Tj operand {other:?}"),
                            }),
                        }),
                        "TJ" => {
                            let mut bytes = Vec::new();
                            for part in operands[0].array() {
                                if let Obj::Str(s) = part {
                                    bytes.extend_from_slice(s);
                                }
                            }
                            runs.push(TextRun {
                                font: self.fonts.get(&font).cloned().unwrap_or(font.clone()),
                                size,
                                x,
                                y,
                                text: decode_win_ansi(&bytes),
                            });
                        }
                        _ => {}
                    }
                    operands.clear();
                }
            }
        }
        runs
    }

    pub fn text(&self) -> Vec<String> {
        self.text_runs().into_iter().map(|r| r.text).collect()
    }

    /// Rectangles that were filled (`re` followed by `f`), in drawing order.
    pub fn filled_rects(&self) -> Vec<Rect> {
        let mut out = Vec::new();
        let mut pending = Vec::new();
        let mut operands: Vec<Obj> = Vec::new();
        let mut lexer = Lexer::new(&self.content, 0);
        while let Some(token) = lexer.operand_or_operator() {
            match token {
                Token::Operand(o) => operands.push(o),
                Token::Operator(op) => {
                    match op.as_str() {
                        "re" => pending.push(Rect {
                            x: operands[0].num(),
                            y: operands[1].num(),
                            w: operands[2].num(),
                            h: operands[3].num(),
                        }),
                        "f" | "F" | "f*" => out.append(&mut pending),
                        "n" | "S" => pending.clear(),
                        _ => {}
                    }
                    operands.clear();
                }
            }
        }
        out
    }
}

impl Pdf {
    pub fn parse(bytes: &[u8]) -> Result<Pdf, String> {
        if !bytes.starts_with(b"%PDF-1.") {
            return Err("no %PDF-1.x header".into());
        }
        let tail = &bytes[bytes.len().saturating_sub(64)..];
        let tail_text = String::from_utf8_lossy(tail);
        if !tail_text.trim_end().ends_with("%%EOF") {
            return Err("no %%EOF at the end".into());
        }
        let sx = find_last(bytes, b"startxref").ok_or("no startxref")?;
        let mut lexer = Lexer::new(bytes, sx + b"startxref".len());
        let xref_at = lexer.object()?.num() as usize;
        if !bytes[xref_at..].starts_with(b"xref") {
            return Err(format!("startxref {xref_at} does not point at 'xref'"));
        }
        let mut lexer = Lexer::new(bytes, xref_at + 4);
        let first = lexer.object()?.num() as u32;
        let count = lexer.object()?.num() as u32;
        lexer.skip_ws();
        let mut pos = lexer.pos;
        let mut offsets = BTreeMap::new();
        for k in 0..count {
            let entry = &bytes[pos..pos + 20];
            let text = std::str::from_utf8(entry).map_err(|e| e.to_string())?;
            if !(text.ends_with(" \n") || text.ends_with("\r\n") || text.ends_with(" \r")) {
                return Err(format!("xref entry {k} is not 20 bytes: {text:?}"));
            }
            let offset: usize = text[..10]
                .parse()
                .map_err(|_| format!("bad offset {text:?}"))?;
            let kind = &text[17..18];
            if kind == "n" {
                offsets.insert(first + k, offset);
            }
            pos += 20;
        }
        let mut lexer = Lexer::new(bytes, pos);
        if lexer.keyword() != "trailer" {
            return Err("no trailer after the xref table".into());
        }
        let trailer = match lexer.object()? {
            Obj::Dict(d) => d,
            other => return Err(format!("trailer is {other:?}")),
        };
        let size = trailer.get("Size").ok_or("no /Size")?.num() as u32;
        if size != first + count {
            return Err(format!("/Size {size} but xref has {}", first + count));
        }
        let mut objects = BTreeMap::new();
        for (num, offset) in offsets {
            let header = format!("{num} 0 obj");
            if !bytes[offset..].starts_with(header.as_bytes()) {
                return Err(format!("xref offset {offset} of object {num} is wrong"));
            }
            let mut lexer = Lexer::new(bytes, offset + header.len());
            let obj = lexer.object()?;
            let obj = if let Obj::Dict(d) = &obj {
                let save = lexer.pos;
                if lexer.keyword() == "stream" {
                    // The keyword is followed by CRLF or LF.
                    let mut start = lexer.pos;
                    if bytes[start] == b'\r' {
                        start += 1;
                    }
                    if bytes[start] == b'\n' {
                        start += 1;
                    }
                    let len = d.get("Length").ok_or("stream without /Length")?.num() as usize;
                    let data = bytes[start..start + len].to_vec();
                    let mut after = Lexer::new(bytes, start + len);
                    if after.keyword() != "endstream" {
                        return Err(format!(
                            "object {num}: /Length {len} does not end at endstream"
                        ));
                    }
                    lexer = after;
                    Obj::Stream(d.clone(), data)
                } else {
                    lexer.pos = save;
                    obj
                }
            } else {
                obj
            };
            if lexer.keyword() != "endobj" {
                return Err(format!("object {num} has no endobj"));
            }
            objects.insert(num, obj);
        }
        Ok(Pdf { objects, trailer })
    }

    pub fn get(&self, num: u32) -> &Obj {
        self.objects
            .get(&num)
            .unwrap_or_else(|| panic!("no object {num}"))
    }

    fn resolve<'a>(&'a self, obj: &'a Obj) -> &'a Obj {
        match obj {
            Obj::Ref(n, _) => self.get(*n),
            other => other,
        }
    }

    pub fn catalog(&self) -> &Obj {
        let root = self.trailer.get("Root").expect("/Root").reference();
        let catalog = self.get(root);
        assert_eq!(catalog.get("Type").name(), "Catalog");
        catalog
    }

    pub fn info_title(&self) -> Option<String> {
        let info = self.resolve(self.trailer.get("Info")?);
        match info.dict().get("Title")? {
            Obj::Str(bytes) if bytes.starts_with(&[0xFE, 0xFF]) => Some(
                String::from_utf16(
                    &bytes[2..]
                        .chunks(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect::<Vec<_>>(),
                )
                .ok()?,
            ),
            Obj::Str(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }

    pub fn pages(&self) -> Vec<Page> {
        let tree = self.resolve(self.catalog().get("Pages"));
        assert_eq!(tree.get("Type").name(), "Pages");
        let mut out = Vec::new();
        self.collect_pages(tree, &mut out);
        assert_eq!(out.len(), tree.get("Count").num() as usize, "/Count");
        out
    }

    fn collect_pages(&self, node: &Obj, out: &mut Vec<Page>) {
        for kid in node.get("Kids").array() {
            let kid = self.resolve(kid);
            match kid.get("Type").name() {
                "Pages" => self.collect_pages(kid, out),
                "Page" => {
                    let mb = kid.get("MediaBox").array();
                    let media_box = [mb[0].num(), mb[1].num(), mb[2].num(), mb[3].num()];
                    let resources = self.resolve(kid.get("Resources"));
                    let mut fonts = BTreeMap::new();
                    if let Some(f) = resources.dict().get("Font") {
                        for (name, font) in self.resolve(f).dict() {
                            let font = self.resolve(font);
                            assert_eq!(font.get("Type").name(), "Font");
                            fonts.insert(name.clone(), font.get("BaseFont").name().to_owned());
                        }
                    }
                    let content = match self.resolve(kid.get("Contents")) {
                        Obj::Stream(d, data) => {
                            assert!(d.get("Filter").is_none(), "content is not compressed");
                            data.clone()
                        }
                        other => panic!("contents {other:?}"),
                    };
                    out.push(Page {
                        media_box,
                        fonts,
                        content,
                    });
                }
                other => panic!("page tree node of type {other}"),
            }
        }
    }
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

enum Token {
    Operand(Obj),
    Operator(String),
}

struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
}

fn is_delim(b: u8) -> bool {
    b"()<>[]{}/%".contains(&b)
}

impl<'a> Lexer<'a> {
    fn new(bytes: &'a [u8], pos: usize) -> Self {
        Lexer { bytes, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() || b == 0 {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(b) = self.peek() {
                    self.pos += 1;
                    if b == b'\n' || b == b'\r' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    fn keyword(&mut self) -> String {
        self.skip_ws();
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() || is_delim(b) {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned()
    }

    /// An operand, or an operator keyword (content streams).
    fn operand_or_operator(&mut self) -> Option<Token> {
        self.skip_ws();
        let b = self.peek()?;
        if b.is_ascii_alphabetic() || b == b'\'' || b == b'"' || b == b'*' {
            let word = self.keyword();
            return Some(match word.as_str() {
                "true" => Token::Operand(Obj::Bool(true)),
                "false" => Token::Operand(Obj::Bool(false)),
                "null" => Token::Operand(Obj::Null),
                _ => Token::Operator(word),
            });
        }
        Some(Token::Operand(self.direct().expect("operand")))
    }

    /// A direct object, or `n g R`.
    fn object(&mut self) -> Result<Obj, String> {
        let obj = self.direct()?;
        if let Obj::Num(n) = obj {
            let save = self.pos;
            if let Ok(Obj::Num(g)) = self.direct()
                && self.keyword() == "R"
            {
                return Ok(Obj::Ref(n as u32, g as u16));
            }
            self.pos = save;
        }
        Ok(obj)
    }

    fn direct(&mut self) -> Result<Obj, String> {
        self.skip_ws();
        let b = self.peek().ok_or("unexpected end")?;
        match b {
            b'/' => {
                self.pos += 1;
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b.is_ascii_whitespace() || is_delim(b) {
                        break;
                    }
                    self.pos += 1;
                }
                Ok(Obj::Name(
                    String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned(),
                ))
            }
            b'(' => self.literal_string(),
            b'<' if self.bytes.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                let mut dict = BTreeMap::new();
                loop {
                    self.skip_ws();
                    if self.bytes[self.pos..].starts_with(b">>") {
                        self.pos += 2;
                        return Ok(Obj::Dict(dict));
                    }
                    let key = match self.direct()? {
                        Obj::Name(n) => n,
                        other => return Err(format!("dictionary key {other:?}")),
                    };
                    let value = self.object()?;
                    dict.insert(key, value);
                }
            }
            b'<' => {
                self.pos += 1;
                let start = self.pos;
                while self.peek() != Some(b'>') {
                    self.pos += 1;
                }
                let hex: Vec<u8> = self.bytes[start..self.pos]
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                self.pos += 1;
                let bytes = hex
                    .chunks(2)
                    .map(|c| {
                        let s = std::str::from_utf8(c).unwrap();
                        u8::from_str_radix(&format!("{s:0<2}"), 16).unwrap()
                    })
                    .collect();
                Ok(Obj::Str(bytes))
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Obj::Array(items));
                    }
                    items.push(self.object()?);
                }
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b.is_ascii_digit() || b"+-.".contains(&b) {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                let text = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap();
                text.parse::<f64>()
                    .map(Obj::Num)
                    .map_err(|_| format!("bad number {text:?}"))
            }
            _ => match self.keyword().as_str() {
                "true" => Ok(Obj::Bool(true)),
                "false" => Ok(Obj::Bool(false)),
                "null" => Ok(Obj::Null),
                other => Err(format!("unexpected {other:?} at {}", self.pos)),
            },
        }
    }

    fn literal_string(&mut self) -> Result<Obj, String> {
        self.pos += 1;
        let mut depth = 1;
        let mut out = Vec::new();
        loop {
            let b = self.peek().ok_or("unterminated string")?;
            self.pos += 1;
            match b {
                b'\\' => {
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(v as u8);
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(Obj::Str(out));
                    }
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
    }
}

/// WinAnsiEncoding (Windows-1252) to Unicode.
pub fn decode_win_ansi(bytes: &[u8]) -> String {
    const HIGH: [u32; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
        0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
        0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ];
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => char::from_u32(HIGH[usize::from(b - 0x80)]).unwrap_or('\u{FFFD}'),
            _ => char::from(b),
        })
        .collect()
}
