//! Large-attachment links (163 超大附件, QQ 中转站, ...). Webmail turns a big video into a link
//! in the body; the contract records it as the item with state `needs_review`, so the link, the
//! file name and the expiry shown next to it are what a person needs to fetch it in time.

use super::floor_char;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LargeLink {
    /// "163" | "qq" | "other"
    pub provider: String,
    pub url: String,
    pub file_name: Option<String>,
    /// As written, e.g. "486.2M".
    pub size_text: Option<String>,
    /// As written, e.g. "2023年6月23日 15:40".
    pub expires: Option<String>,
}

struct Res {
    url: Regex,
    href: Regex,
    tag: Regex,
    described: Regex,
    size: Regex,
    expiry: Regex,
    file_like: Regex,
}

fn res() -> &'static Res {
    static R: OnceLock<Res> = OnceLock::new();
    R.get_or_init(|| Res {
        url: Regex::new(r#"https?://[^\s"'<>()（）\[\]{}，。；！、]+"#).unwrap(),
        href: Regex::new(r#"(?is)<a\b([^>]*)>(.*?)</a\s*>"#).unwrap(),
        tag: Regex::new(r"(?s)<[^>]*>").unwrap(),
        // `name (486.2M, 2023年6月23日 15:40 到期)`, the shape both 163 and QQ write.
        described: Regex::new(
            r"([^\r\n()（）]*?)\s*[(（]\s*([0-9][0-9.,]*\s*[KMGTkmgt]?i?[Bb]?)\s*[,，]\s*([^()（）\r\n]*?)\s*到期\s*[)）]",
        )
        .unwrap(),
        size: Regex::new(r"(?:^|[\s(（,，])([0-9][0-9.,]*\s*(?:[KMGT]i?B?|[kmg]b|字节|bytes))(?:$|[\s)）,，])").unwrap(),
        expiry: Regex::new(r"(\d{4}年\d{1,2}月\d{1,2}日(?:\s*\d{1,2}:\d{2})?)\s*到期").unwrap(),
        file_like: Regex::new(r"^[^\r\n]{1,200}\.[A-Za-z0-9]{1,6}$").unwrap(),
    })
}

/// The provider of a large-attachment URL, or `None` for any other link.
pub fn provider_of(url: &str) -> Option<&'static str> {
    let rest = url.split_once("://")?.1;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host
        .rsplit('@')
        .next()
        .unwrap_or(host)
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let path = path.to_ascii_lowercase();
    let on = |h: &str| host == h || host.ends_with(&format!(".{h}"));
    // Apple Mail Drop (iPhone and Mac Mail turn a video over 20 MB into one), and 百度网盘
    // share links, which units paste when a video is too large for any attachment.
    let icloud_mail_drop = host == "www.icloud.com" && path.starts_with("attachment");
    let baidu_share = (host == "pan.baidu.com" || host == "yun.baidu.com")
        && (path.starts_with("s/") || path.starts_with("share/"));
    if host == "edisk.qiye.163.com"
        || icloud_mail_drop
        || baidu_share
        || on("cloud.189.cn")
        || (on("mail.sina.com.cn") && path.starts_with("filecenter"))
    {
        return Some("other");
    }
    // NetEase runs the same service on 126 and yeah.net.
    let netease = on("mail.163.com") || on("mail.126.com") || on("mail.yeah.net");
    if (netease && path.starts_with("large-attachment-download"))
        || (host == "fs.163.com" && path.starts_with("fs/display"))
        || (host == "dashi.163.com" && path.starts_with("html/cloud-attachment-download"))
    {
        return Some("163");
    }
    let qq = host == "wx.mail.qq.com"
        || host == "iwx.mail.qq.com"
        || host == "mail.qq.com"
        || host == "exmail.qq.com";
    if qq && (path.starts_with("ftn/") || path.starts_with("cgi-bin/ftnexs_download")) {
        return Some("qq");
    }
    None
}

/// Collects the links of one body into `out`, merging with links already found (the text and
/// html bodies of one message carry the same links; the union of what each says is kept).
pub fn find_in_text(text: &str, out: &mut Vec<LargeLink>) {
    let r = res();
    let mut prev_end = 0;
    for m in r.url.find_iter(text) {
        let url = trim_url(m.as_str());
        let Some(provider) = provider_of(url) else {
            continue;
        };
        let before = window_before(text, prev_end, m.start());
        let after = line_after(text, m.end());
        prev_end = m.end();
        let mut link = describe(provider, url, before, after);
        if link.file_name.is_none() {
            // The line just above a bare URL often is the name alone.
            link.file_name = before
                .lines()
                .rev()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .filter(|l| r.file_like.is_match(l) && !l.contains("://"))
                .map(|l| strip_label(l).to_string());
        }
        merge(out, link);
    }
}

/// Collects the links of an html body: anchors first (their text is usually the file name and
/// the size and expiry follow them), then any URL written out as text.
pub fn find_in_html(html: &str, out: &mut Vec<LargeLink>) {
    let r = res();
    for cap in r.href.captures_iter(html) {
        let attrs = cap.get(1).map_or("", |m| m.as_str());
        let Some(href) = attr(attrs, "href") else {
            continue;
        };
        let url = unescape(&href);
        let url = trim_url(url.trim());
        let Some(provider) = provider_of(url) else {
            continue;
        };
        let whole = cap.get(0).map_or(0..0, |m| m.range());
        let inner = flatten(cap.get(2).map_or("", |m| m.as_str()));
        let before_html = &html[floor_char(html, whole.start.saturating_sub(600))..whole.start];
        let after_end = html[whole.end..]
            .find("<a ")
            .map_or(html.len(), |p| whole.end + p);
        let after_html = &html[whole.end..floor_char(html, after_end.min(whole.end + 600))];
        let before = flatten(before_html);
        let after = flatten(after_html);
        let before_line = before.lines().last().unwrap_or("");
        let mut link = describe(provider, url, before_line, &format!("{inner} {after}"));
        let name_attr = attr(attrs, "download")
            .map(|d| unescape(&d))
            .filter(|d| !d.trim().is_empty());
        let inner_name = Some(inner.trim().to_string())
            .filter(|t| r.file_like.is_match(t) && !t.contains("://"));
        if let Some(n) = name_attr.or(inner_name) {
            link.file_name = Some(n.trim().to_string());
        }
        merge(out, link);
    }
    find_in_text(&flatten(html), out);
}

fn describe(provider: &str, url: &str, before: &str, after: &str) -> LargeLink {
    let r = res();
    let mut link = LargeLink {
        provider: provider.to_string(),
        url: url.to_string(),
        file_name: None,
        size_text: None,
        expires: None,
    };
    let described = r
        .described
        .captures_iter(before)
        .last()
        .or_else(|| r.described.captures_iter(after).next());
    if let Some(c) = described {
        let name = strip_label(c.get(1).map_or("", |m| m.as_str()).trim());
        if !name.is_empty() {
            link.file_name = Some(name.to_string());
        }
        link.size_text = c.get(2).map(|m| m.as_str().trim().to_string());
        link.expires = c
            .get(3)
            .map(|m| m.as_str().trim().to_string())
            .filter(|s| !s.is_empty());
    }
    if link.size_text.is_none() {
        link.size_text = r
            .size
            .captures(after)
            .or_else(|| r.size.captures_iter(before).last())
            .map(|c| c[1].trim().to_string());
    }
    if link.expires.is_none() {
        link.expires = r
            .expiry
            .captures(after)
            .or_else(|| r.expiry.captures_iter(before).last())
            .map(|c| c[1].to_string());
    }
    if link.file_name.is_none() {
        link.file_name = query_param(url, "title")
            .or_else(|| query_param(url, "name"))
            // Mail Drop: `f=IMG_0042.MOV`.
            .or_else(|| query_param(url, "f").filter(|n| r.file_like.is_match(n)))
            .filter(|n| !n.trim().is_empty());
    }
    link
}

fn merge(out: &mut Vec<LargeLink>, link: LargeLink) {
    if let Some(old) = out.iter_mut().find(|l| l.url == link.url) {
        old.file_name = old.file_name.take().or(link.file_name);
        old.size_text = old.size_text.take().or(link.size_text);
        old.expires = old.expires.take().or(link.expires);
    } else {
        out.push(link);
    }
}

/// Labels written before the name on the same line ("下载地址：", "附件："). Only known labels:
/// real names contain colons too (`附件2：2023年…统计表.xlsx`).
fn strip_label(s: &str) -> &str {
    let s = s.trim();
    for label in [
        "下载地址",
        "文件名称",
        "文件名",
        "附件名",
        "附件",
        "文件",
        "名称",
        "下载",
    ] {
        if let Some(rest) = s.strip_prefix(label) {
            if let Some(r) = rest.strip_prefix(['：', ':']) {
                return r.trim();
            }
        }
    }
    s
}

fn trim_url(u: &str) -> &str {
    u.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"'])
}

fn window_before(text: &str, from: usize, to: usize) -> &str {
    let start = floor_char(text, to.saturating_sub(400)).max(from);
    let w = &text[start.min(to)..to];
    // At most the two lines above and the current one: farther text belongs to something else.
    let mut cut = w.len();
    for _ in 0..3 {
        match w[..cut].rfind('\n') {
            Some(p) => cut = p,
            None => return w,
        }
        if cut == 0 {
            break;
        }
    }
    &w[cut..]
}

fn line_after(text: &str, from: usize) -> &str {
    let rest = &text[from..];
    let end = rest.find('\n').unwrap_or(rest.len()).min(300);
    &rest[..floor_char(rest, end)]
}

fn attr(attrs: &str, name: &str) -> Option<String> {
    let lower = attrs.to_ascii_lowercase();
    let mut search = 0;
    while let Some(p) = lower[search..].find(name) {
        let at = search + p;
        search = at + name.len();
        let boundary = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = attrs[search..].trim_start();
        if !boundary || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let (q, body) = match rest.chars().next() {
            Some(c @ ('"' | '\'')) => (Some(c), &rest[1..]),
            _ => (None, rest),
        };
        let end = match q {
            Some(c) => body.find(c).unwrap_or(body.len()),
            None => body
                .find(|c: char| c.is_whitespace() || c == '>')
                .unwrap_or(body.len()),
        };
        return Some(body[..end].to_string());
    }
    None
}

/// Html to plain text good enough to read the words around a link.
fn flatten(html: &str) -> String {
    let r = res();
    let s = html
        .replace("<br>", "\n")
        .replace("<br/>", "\n")
        .replace("<br />", "\n")
        .replace("</div>", "\n</div>")
        .replace("</p>", "\n</p>")
        .replace("</tr>", "\n</tr>");
    unescape(&r.tag.replace_all(&s, " "))
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        // An entity is short; the window ends on a char boundary, since CJK text may follow `&`.
        let end = rest[..floor_char(rest, 12)].find(';');
        let decoded = end.and_then(|e| {
            let ent = &rest[1..e];
            let c = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                    u32::from_str_radix(&ent[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    let q = q.split('#').next().unwrap_or(q);
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| {
            super::names::decode_guess(&super::names::percent_decode(
                v.replace('+', " ").as_bytes(),
            ))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL163: &str = "https://mail.163.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT&file=qCPD&title=%E5%BD%B1%E5%83%8F.mp4";

    #[test]
    fn providers() {
        assert_eq!(provider_of(URL163), Some("163"));
        assert_eq!(
            provider_of("http://fs.163.com/fs/display/?p=X-NETEASE-HUGE-ATTACHMENT&file=x"),
            Some("163")
        );
        assert_eq!(
            provider_of("https://dashi.163.com/html/cloud-attachment-download/index.html?x"),
            Some("163")
        );
        assert_eq!(
            provider_of("https://wx.mail.qq.com/ftn/download?func=3&key=a"),
            Some("qq")
        );
        assert_eq!(
            provider_of("https://iwx.mail.qq.com/ftn/download?func=4"),
            Some("qq")
        );
        assert_eq!(
            provider_of("http://mail.qq.com/cgi-bin/ftnExs_download?k=1&t=exs_ftn_download"),
            Some("qq")
        );
        assert_eq!(
            provider_of("https://edisk.qiye.163.com/api/biz/attachment/download?identity=1"),
            Some("other")
        );
        assert_eq!(
            provider_of("https://download.cloud.189.cn/file/x"),
            Some("other")
        );
        assert_eq!(
            provider_of("https://mail.sina.com.cn/filecenter/download.php?id=1"),
            Some("other")
        );
        assert_eq!(provider_of("http://u.163.com/abc"), None);
        assert_eq!(provider_of("https://mail.163.com/"), None);
        assert_eq!(
            provider_of("https://evil.com/mail.163.com/large-attachment-download"),
            None
        );
    }

    #[test]
    fn text_163_block() {
        let text = format!(
            "您好\n\n从网易163邮箱发来的超大附件\n\n市档案馆科技活动周影像资料.mp4 (486.2M, 2023年6月23日 15:40 到期)\n下载地址：{URL163}\n"
        );
        let mut out = Vec::new();
        find_in_text(&text, &mut out);
        assert_eq!(out.len(), 1);
        let l = &out[0];
        assert_eq!(l.provider, "163");
        assert_eq!(l.url, URL163);
        assert_eq!(
            l.file_name.as_deref(),
            Some("市档案馆科技活动周影像资料.mp4")
        );
        assert_eq!(l.size_text.as_deref(), Some("486.2M"));
        assert_eq!(l.expires.as_deref(), Some("2023年6月23日 15:40"));
    }

    #[test]
    fn text_qq_inline_shape() {
        let text = "从QQ邮箱发来的超大附件\n\n宣传片.mp4 (128.03M, 2020年11月27日 21:59 到期)进入下载页面：http://mail.qq.com/cgi-bin/ftnExs_download?k=abc&t=exs_ftn_download&code=1\n";
        let mut out = Vec::new();
        find_in_text(text, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].provider, "qq");
        assert_eq!(out[0].file_name.as_deref(), Some("宣传片.mp4"));
        assert_eq!(out[0].size_text.as_deref(), Some("128.03M"));
        assert_eq!(out[0].expires.as_deref(), Some("2020年11月27日 21:59"));
    }

    #[test]
    fn html_anchor_and_dedupe_with_text() {
        let html = format!(
            "<div>从网易163邮箱发来的超大附件</div><div><a href=\"{}\" target=\"_blank\" download=\"影像.mp4\">影像.mp4</a> <span>486.2M</span> <span>2023年6月23日 15:40 到期</span></div><a href=\"http://u.163.com/x\">推荐客户端极速下载</a>",
            URL163.replace('&', "&amp;")
        );
        let mut out = Vec::new();
        find_in_html(&html, &mut out);
        find_in_text(&format!("{URL163}\n"), &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].url, URL163);
        assert_eq!(out[0].file_name.as_deref(), Some("影像.mp4"));
        assert_eq!(out[0].size_text.as_deref(), Some("486.2M"));
        assert_eq!(out[0].expires.as_deref(), Some("2023年6月23日 15:40"));
    }

    #[test]
    fn entities_right_before_cjk_text_are_decoded_not_a_panic() {
        // 163 and QQ webmail write `&nbsp;` next to Chinese all the time; the entity window
        // once ended inside a multi-byte character.
        for e in [
            "&nbsp;", "&amp;", "&lt;", "&#160;", "&#x4E2D;", "&bogus;", "&",
        ] {
            for text in ["影像资料", "Отчёт", "添付ファイル", "첨부"] {
                let html = format!(
                    "<div>{e}{text}</div><div>{e}<a href=\"{}\">{e}{text}.mp4</a>{e}{text}</div>",
                    URL163.replace('&', "&amp;")
                );
                let mut out = Vec::new();
                find_in_html(&html, &mut out);
                assert_eq!(out.len(), 1, "{html}");
                assert_eq!(out[0].url, URL163);
            }
        }
        assert_eq!(unescape("&nbsp;中文&amp;文"), " 中文&文");
        assert_eq!(unescape("&中文"), "&中文");
    }

    #[test]
    fn bare_url_takes_name_from_title_param() {
        let mut out = Vec::new();
        find_in_text(&format!("见链接 {URL163}。"), &mut out);
        assert_eq!(out[0].file_name.as_deref(), Some("影像.mp4"));
        assert_eq!(out[0].size_text, None);
    }

    #[test]
    fn apple_mail_drop_and_baidu_share_links() {
        let drop = "https://www.icloud.com/attachment/?u=https%3A%2F%2Fcvws.icloud-content.com%2FB%2FAaBb%2F%24%7Bf%7D%3Fo%3DAt&uk=Xy3k&f=IMG_0042.MOV&sz=315217632";
        assert_eq!(provider_of(drop), Some("other"));
        let mut out = Vec::new();
        find_in_text(&format!("附件请查收\n\nIMG_0042.MOV\n<{drop}>\n"), &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].url, drop);
        assert_eq!(out[0].file_name.as_deref(), Some("IMG_0042.MOV"));

        let baidu = "https://pan.baidu.com/s/1a2B3c4D5e6F7g8H9i0JkLm?pwd=x7k9";
        assert_eq!(provider_of(baidu), Some("other"));
        let mut out = Vec::new();
        find_in_text(
            &format!("视频较大，已上传百度网盘：\n链接：{baidu} \n提取码：x7k9 \n--来自百度网盘超级会员V3的分享"),
            &mut out,
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].url, baidu);
        assert_eq!(provider_of("https://pan.baidu.com/disk/home"), None);
        assert_eq!(provider_of("https://www.icloud.com/"), None);
    }

    #[test]
    fn ordinary_links_are_ignored() {
        let mut out = Vec::new();
        find_in_text(
            "http://www.taiyuan.gov.cn/ https://mail.163.com/js6/main.jsp",
            &mut out,
        );
        find_in_html("<a href='https://example.com/a.mp4'>a.mp4</a>", &mut out);
        assert!(out.is_empty());
    }
}
