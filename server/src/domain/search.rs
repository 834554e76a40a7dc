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
    /// The words, stemmed (see [`stems`]), each once.
    pub fn stems(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for word in &self.0 {
            for stem in stems(word) {
                if !out.contains(&stem) {
                    out.push(stem);
                }
            }
        }
        out
    }
}

static STEMMER: std::sync::LazyLock<rust_stemmers::Stemmer> =
    std::sync::LazyLock::new(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English));

/// The words of `text` as the search index keeps them: split at anything
/// but a letter or digit, lower-cased, and stemmed the English way (Snowball
/// English, as PostgreSQL's 'english' configuration: "missing" and
/// "missed" are both "miss").
pub fn stems(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| STEMMER.stem(&w.to_lowercase()).into_owned())
        .collect()
}

/// Words shown around the first match in a snippet.
const SNIPPET_WORDS: usize = 24;

/// A few words of `text` around its first word whose stem is one of
/// `wanted`, each matching word between [`MARK_START`] and [`MARK_END`];
/// `None` when no word matches. (The index holds only keyed hashes, so the
/// snippet is made from the opened text, never by the database.)
pub fn snippet(text: &str, wanted: &[String]) -> Option<String> {
    let chunks: Vec<&str> = text.split_whitespace().collect();
    let matches = |chunk: &str| stems(chunk).iter().any(|s| wanted.contains(s));
    let first = chunks.iter().position(|c| matches(c))?;
    let start = first.saturating_sub(SNIPPET_WORDS / 3);
    let end = (start + SNIPPET_WORDS).min(chunks.len());
    let mut out = String::new();
    if start > 0 {
        out.push_str("… ");
    }
    for (i, chunk) in chunks[start..end].iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if matches(chunk) {
            // Mark the word, not the punctuation around it.
            let lead = chunk.len()
                - chunk
                    .trim_start_matches(|c: char| !c.is_alphanumeric())
                    .len();
            let core = chunk[lead..].trim_end_matches(|c: char| !c.is_alphanumeric());
            out.push_str(&chunk[..lead]);
            out.push(MARK_START);
            out.push_str(core);
            out.push(MARK_END);
            out.push_str(&chunk[lead + core.len()..]);
        } else {
            out.push_str(chunk);
        }
    }
    if end < chunks.len() {
        out.push_str(" …");
    }
    Some(out)
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
    fn words_are_split_lowered_stemmed_and_deduplicated() {
        let t = parse("  Blue VAUXHALL corsa, blue! Missing missed").unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(t.stems(), vec!["blue", "vauxhal", "corsa", "miss"]);
        assert_eq!(stems("St. Mary's"), vec!["st", "mari", "s"]);
    }

    #[test]
    fn a_snippet_marks_the_matching_words_around_the_first() {
        let text = format!(
            "{} Seen near Mill Lane, missing again. {}",
            "a ".repeat(20),
            "b ".repeat(30)
        );
        let s = snippet(&text, &stems("missed")).expect("a match");
        assert!(s.starts_with("… a a"), "{s}");
        assert!(s.ends_with(" …"), "{s}");
        assert!(
            s.contains(&format!("{MARK_START}missing{MARK_END} again.")),
            "{s}"
        );
        assert_eq!(
            s.split_whitespace().filter(|w| *w != "…").count(),
            SNIPPET_WORDS
        );
        assert_eq!(snippet("nothing here", &stems("lane")), None);
        assert_eq!(
            snippet("Mill Lane", &stems("lane")).as_deref(),
            Some(format!("Mill {MARK_START}Lane{MARK_END}").as_str())
        );
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
