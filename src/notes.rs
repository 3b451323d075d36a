//! What a unit wrote to the staff (issue 9, item 2). A message that carries no file, or whose
//! own words ask something, is a *note*: the coordinator reads it in the daily email under
//! 单位来信 until it is marked handled. Pure: text in, verdict out.

/// Words that make a message a question, as units write them.
const QUESTION_MARKERS: [&str; 11] = [
    "？",
    "?",
    "请问",
    "咨询",
    "是否",
    "能否",
    "可否",
    "怎么",
    "如何",
    "为什么",
    "哪里",
];

/// How much of a note the daily email shows.
pub const NOTE_CHARS: usize = 500;

/// Where a reply's own words end and the quoted email begins, as 163, QQ, Foxmail, Outlook and
/// Gmail write it. Everything from the first such line on is someone else's text (often our own
/// acknowledgement, whose words must not make the reply a question).
fn starts_quote(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('>')
        || t.contains("原始邮件")
        || t.contains("Original Message")
        || t.contains("Original message")
        || (t.starts_with("在") && (t.ends_with("写道：") || t.ends_with("写道:")))
        || (t.starts_with("On ") && t.ends_with("wrote:"))
        || t.starts_with("发件人：")
        || t.starts_with("发件人:")
        || t.starts_with("From: ")
        || t.starts_with("-----")
        || t == "--"
}

/// The sender's own words: the body up to the quoted email or signature, web addresses removed
/// (a download link's `?` asks nothing), blank lines dropped.
pub fn own_words(body: &str) -> String {
    static URL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let url = URL.get_or_init(|| regex::Regex::new(r"(?i)\b(?:https?|ftp)://\S+").expect("regex"));
    let mut lines = Vec::new();
    for line in body.lines() {
        if starts_quote(line) {
            break;
        }
        let line = url.replace_all(line, "");
        let line = line.trim();
        if !line.is_empty() {
            lines.push(line.to_string());
        }
    }
    lines.join("\n")
}

/// The sender's words ask something (？ ? 请问 咨询 是否 能否 可否 怎么 如何 为什么 哪里).
pub fn asks(own: &str) -> bool {
    QUESTION_MARKERS.iter().any(|m| own.contains(m))
}

/// The note of a message, if it is one: its own words (at most [`NOTE_CHARS`] characters, else
/// the subject) when it carries no file or asks something.
pub fn note_of(subject: &str, body: &str, carries_file: bool) -> Option<String> {
    let own = own_words(body);
    if carries_file && !asks(&own) {
        return None;
    }
    let text: String = if own.is_empty() {
        subject.trim().to_string()
    } else {
        own.chars().take(NOTE_CHARS).collect()
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_without_files_is_a_note_with_its_own_words() {
        let n = note_of("关于报送", "我单位视频正在制作，下周发送。\n\n谢谢", false);
        assert_eq!(n.as_deref(), Some("我单位视频正在制作，下周发送。\n谢谢"));
    }

    #[test]
    fn a_question_with_files_is_a_note_a_submission_without_one_is_not() {
        for q in [
            "请问统计表中的青少年人数怎么统计？",
            "视频超过3分钟是否可以",
            "能否延期两天",
            "Is the deadline fixed?",
        ] {
            assert!(note_of("材料", q, true).is_some(), "{q}");
        }
        assert!(note_of("材料", "附件为我单位材料，请查收。", true).is_none());
    }

    #[test]
    fn quoted_mail_and_links_ask_nothing() {
        let body = "附件为更正后的统计表。\n\n在 2023年6月5日 10:00，科技周 写道：\n> 是否需要重新发送？\n";
        assert!(note_of("Re: 回执", body, true).is_none());
        let body = "视频见超大附件：https://mail.163.com/x/index.html?p=1&file=2\n";
        assert!(note_of("视频", body, true).is_none());
        let body = "好的\n------------------ 原始邮件 ------------------\n请问？";
        assert_eq!(note_of("Re", body, false).as_deref(), Some("好的"));
    }

    #[test]
    fn a_note_is_cut_at_500_characters_and_an_empty_body_shows_the_subject() {
        let long = "问".repeat(800);
        assert_eq!(
            note_of("x", &long, false).unwrap().chars().count(),
            NOTE_CHARS
        );
        assert_eq!(
            note_of(" 视频能否晚两天交 ", "", false).as_deref(),
            Some("视频能否晚两天交")
        );
    }
}
