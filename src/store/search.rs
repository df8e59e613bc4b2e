//! What a search looks for: the words of a query, checked against the
//! limits, and the same words as SQLite's full-text index (FTS5) reads
//! them.
//!
//! A query is words separated by spaces, every one of which a message must
//! contain, in any order; the index ignores case and accents. Each word
//! goes to the index as one quoted string (a quote inside doubled), so
//! nothing a user types is read as FTS5's own syntax (`OR`, `NEAR`, `*`,
//! column filters), and a word the index splits, such as `to-do`, must
//! appear as those words in a row. The index does the Unicode work:
//! splitting and folding here would cost the `.wasm` Unicode's tables.

use crate::settings::limits::{SEARCH_MAX_CHARS, SEARCH_MAX_WORDS};
use crate::wire::error::Refusal;

/// A checked search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The words as typed, at least one.
    words: Vec<String>,
}

impl SearchQuery {
    /// Reads a query as a person typed it; refused when it has nothing to
    /// look for, is longer than [`SEARCH_MAX_CHARS`] or has more than
    /// [`SEARCH_MAX_WORDS`] words.
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        let chars = text.chars().count();
        if chars > SEARCH_MAX_CHARS {
            return Err(Refusal::BadQuery(format!(
                "the query is {chars} characters long; the limit is {SEARCH_MAX_CHARS}"
            )));
        }
        // Any letter or digit; every non-ASCII character may be one.
        let wordy = |c: char| c.is_ascii_alphanumeric() || !c.is_ascii();
        if !text.chars().any(wordy) {
            return Err(Refusal::BadQuery(
                "the query has no word to look for (letters or digits)".into(),
            ));
        }
        let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        if words.len() > SEARCH_MAX_WORDS {
            return Err(Refusal::BadQuery(format!(
                "the query has {} words; the limit is {SEARCH_MAX_WORDS}",
                words.len()
            )));
        }
        Ok(SearchQuery { words })
    }

    /// The FTS5 `MATCH` expression: each word a quoted string, side by
    /// side, which FTS5 reads as "all of them". A word with no letter or
    /// digit becomes a string with no token, which FTS5 ignores.
    pub fn fts5(&self) -> String {
        let quoted: Vec<String> = (self.words.iter())
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect();
        quoted.join(" ")
    }

    /// Whether `text` holds every word, in any case: what the index
    /// answers, for the in-memory store of the native tests (which does
    /// not fold accents, nor ask split words to be in a row).
    pub fn matches(&self, text: &str) -> bool {
        let have = tokens(text);
        self.words
            .iter()
            .flat_map(|w| tokens(w))
            .all(|w| have.contains(&w))
    }
}

/// Runs of letters and digits, lower-cased, as the index's tokenizer
/// makes them.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(r: Result<SearchQuery, Refusal>) -> String {
        match r {
            Err(Refusal::BadQuery(why)) => why,
            other => panic!("expected a bad query, got {other:?}"),
        }
    }

    #[test]
    fn words_go_to_the_index_quoted_so_nothing_is_an_operator() {
        let q = SearchQuery::parse("Deploy OR \"prod\"* NEAR(x) col:1").unwrap();
        assert_eq!(q.fts5(), r#""Deploy" "OR" """prod""*" "NEAR(x)" "col:1""#);
    }

    #[test]
    fn a_message_matches_when_it_has_every_word_in_any_case_and_order() {
        let q = SearchQuery::parse("staging deploy").unwrap();
        assert!(q.matches("Deploy to STAGING done"));
        assert!(!q.matches("deploy to prod"));
        assert!(!q.matches("deployment to staging"), "whole words only");
        assert!(SearchQuery::parse("to-do")
            .unwrap()
            .matches("the to do list"));
    }

    #[test]
    fn empty_long_and_wordy_queries_are_refused_with_the_reason() {
        assert!(why(SearchQuery::parse("  ?! ")).contains("no word"));
        assert!(why(SearchQuery::parse("")).contains("no word"));
        assert!(why(SearchQuery::parse(&"a".repeat(201))).contains("limit is 200"));
        assert!(why(SearchQuery::parse("a b c d e f g h i")).contains("9 words"));
        assert!(SearchQuery::parse(&"a".repeat(200)).is_ok());
        assert!(SearchQuery::parse("a b c d e f g h").is_ok());
        assert!(SearchQuery::parse("café").is_ok());
    }
}
