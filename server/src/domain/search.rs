//! Search across a person's cases (issue 7, "Finding earlier records";
//! DESIGN.md: inspectors found practitioners could not find earlier
//! exploitation records). The rules, with no I/O:
//!
//! - **What is searched**: the words a person types, as whole words (stemmed
//!   the English way on both engines: "missing" finds "missed"), all of them
//!   required. No operators: a practitioner types words, and nothing they
//!   type can change the shape of the query.
//! - **Who finds what**: exactly what they could read by opening the record.
//!   A hit is returned only from a case the person is a current member of
//!   (an ended or expired membership, a meeting-only grant after the meeting,
//!   a break-glass grant after its hours: nothing), from a channel they may
//!   see ([`super::channels::may_see_channel`]), and of a message they see in
//!   full ([`super::channels::sight`]): a restricted message, or one held back
//!   from their agency by consent (stored as a restriction, see
//!   [`super::withholding`]), is never found by those it is restricted away
//!   from, not even as a placeholder. A removed (redacted) message has no
//!   text left to find.
//! - **What is recorded**: who searched, when, how many words and how many
//!   results, and a read of each case that results came from. Never the
//!   words: a search for a child's or an associate's name would otherwise
//!   sit in the append-only audit log forever (a hash of a name is no
//!   better: anyone can hash a list of names and compare). See
//!   docs/missing-episodes.md, "Finding earlier records: search".

/// Longest search, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most words in one search.
pub const MAX_TERMS: usize = 8;
/// Most results shown for one search; a person narrows the search for more.
pub const MAX_RESULTS: i64 = 50;

/// Where a highlighted word starts and ends in a snippet from the database
/// (control characters no message text is expected to hold).
pub const MARK_START: char = '\u{2}';
pub const MARK_END: char = '\u{3}';

/// The words to search for: lower-case letters and digits only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms(Vec<String>);

/// Why a search cannot be run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    Empty,
    TooLong,
    TooManyWords,
}

impl Refused {
    pub fn message(&self) -> String {
        match self {
            Refused::Empty => "Enter one or more words to search for.".into(),
            Refused::TooLong => {
                format!("Search for at most {MAX_QUERY_CHARS} characters.")
            }
            Refused::TooManyWords => format!("Search for at most {MAX_TERMS} words."),
        }
    }
}

/// Split what a person typed into words. Punctuation separates words and is
/// otherwise ignored ("St. Mary's" searches for "st", "mary", "s").
pub fn parse(text: &str) -> Result<Terms, Refused> {
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(Refused::TooLong);
    }
    let mut words: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if !word.is_empty() && !words.contains(&word) {
            words.push(word);
        }
    }
    if words.is_empty() {
        return Err(Refused::Empty);
    }
    if words.len() > MAX_TERMS {
        return Err(Refused::TooManyWords);
    }
    Ok(Terms(words))
}

impl Terms {
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// An SQLite FTS5 query: every word quoted (so none is read as an
    /// operator or column name), all required.
    pub fn fts5(&self) -> String {
        self.0
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
    /// Text for PostgreSQL's `plainto_tsquery`, which requires every word
    /// and reads no operators.
    pub fn plain(&self) -> String {
        self.0.join(" ")
    }
}

/// A snippet split into plain and highlighted runs, for the page to escape
/// and mark up.
pub fn segments(snippet: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut current = String::new();
    let mut marked = false;
    for c in snippet.chars() {
        let switch_to = match c {
            MARK_START => Some(true),
            MARK_END => Some(false),
            _ => None,
        };
        match switch_to {
            Some(m) => {
                if !current.is_empty() {
                    out.push((std::mem::take(&mut current), marked));
                }
                marked = m;
            }
            None => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push((current, marked));
    }
    out
}

/// A snippet as plain text (for the JSON API).
pub fn plain_snippet(snippet: &str) -> String {
    snippet
        .chars()
        .filter(|c| *c != MARK_START && *c != MARK_END)
        .collect()
}

/// Where a message lives, for a link to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// The case discussion (shown on the case page).
    Case { case_id: String },
    /// A meeting's discussion (shown on the meeting page).
    Meeting { meeting_id: String },
    /// A missing episode's discussion.
    MissingEpisode { case_id: String, episode_id: String },
}

/// The page showing a message, at the message.
pub fn message_link(place: &Place, seq: i64) -> String {
    match place {
        Place::Case { case_id } => format!("/cases/{case_id}#m-{seq}"),
        Place::Meeting { meeting_id } => format!("/meetings/{meeting_id}#m-{seq}"),
        Place::MissingEpisode {
            case_id,
            episode_id,
        } => format!("/cases/{case_id}/missing/{episode_id}#m-{seq}"),
    }
}

/// The findings page of a return home interview.
pub fn findings_link(case_id: &str, episode_id: &str) -> String {
    format!("/cases/{case_id}/missing/{episode_id}/findings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_lowered_and_deduplicated() {
        let t = parse("  Blue VAUXHALL corsa, blue!").unwrap();
        assert_eq!(t.plain(), "blue vauxhall corsa");
        assert_eq!(t.fts5(), "\"blue\" AND \"vauxhall\" AND \"corsa\"");
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn nothing_typed_can_become_an_operator() {
        let t = parse("\"x\" OR y* NEAR(z) body:w -v").unwrap();
        for quoted in t.fts5().split(" AND ") {
            let inner = quoted.trim_matches('"');
            assert!(inner.chars().all(char::is_alphanumeric), "{quoted}");
        }
    }

    #[test]
    fn empty_long_and_wordy_searches_are_refused() {
        assert_eq!(parse("  ,.;  "), Err(Refused::Empty));
        assert_eq!(parse(""), Err(Refused::Empty));
        assert_eq!(
            parse(&"a".repeat(MAX_QUERY_CHARS + 1)),
            Err(Refused::TooLong)
        );
        assert_eq!(parse("a b c d e f g h i"), Err(Refused::TooManyWords));
        assert!(parse("a b c d e f g h").is_ok());
    }

    #[test]
    fn snippets_split_into_marked_runs() {
        let s = format!("seen near {MARK_START}Mill{MARK_END} Lane with {MARK_START}K{MARK_END}");
        assert_eq!(
            segments(&s),
            vec![
                ("seen near ".to_string(), false),
                ("Mill".to_string(), true),
                (" Lane with ".to_string(), false),
                ("K".to_string(), true),
            ]
        );
        assert_eq!(plain_snippet(&s), "seen near Mill Lane with K");
    }

    #[test]
    fn links_point_at_the_message_in_its_page() {
        let case = Place::Case {
            case_id: "c1".into(),
        };
        assert_eq!(message_link(&case, 7), "/cases/c1#m-7");
        let meeting = Place::Meeting {
            meeting_id: "m1".into(),
        };
        assert_eq!(message_link(&meeting, 2), "/meetings/m1#m-2");
    }
}
