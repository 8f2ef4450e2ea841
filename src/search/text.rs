//! The words of product texts and of queries, cut and folded one way for both, so that what a
//! shopper types meets what the index holds: lower case, accents folded (`Café` = `cafe`),
//! split on everything that is not a letter or digit (`T-Shirt` = `t shirt`).

use std::cell::RefCell;
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenStream,
};

/// Words longer than this are not indexed (nobody searches for them, and they bound the
/// automata built per query word).
const MAX_WORD_BYTES: usize = 40;

/// One word of a text: its folded form and where it stands in the original (byte offsets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// Lower case, accents folded.
    pub text: String,
    /// Byte offset of its first character in the original text.
    pub start: usize,
    /// Byte offset just after its last character.
    pub end: usize,
}

thread_local! {
    static ANALYZER: RefCell<TextAnalyzer> = RefCell::new(
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build(),
    );
}

/// The words of `text`, in order.
pub fn words(text: &str) -> Vec<Word> {
    ANALYZER.with(|analyzer| {
        let mut analyzer = analyzer.borrow_mut();
        let mut stream = analyzer.token_stream(text);
        let mut words = Vec::new();
        while stream.advance() {
            let token = stream.token();
            words.push(Word {
                text: token.text.clone(),
                start: token.offset_from,
                end: token.offset_to,
            });
        }
        words
    })
}

/// The terms a field indexes for `texts`: every word, and every two neighbouring words
/// written together, so `T-Shirt` is also found as `tshirt` (the query side joins neighbouring
/// query words, which finds `Tshirt` for `t shirt`). Space separated, for the whitespace
/// tokenizer of the index.
pub fn index_terms<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut terms = String::new();
    for text in texts {
        let words = words(text);
        for (i, word) in words.iter().enumerate() {
            push_term(&mut terms, &word.text);
            if let Some(next) = words.get(i + 1) {
                push_term(&mut terms, &format!("{}{}", word.text, next.text));
            }
        }
    }
    terms
}

fn push_term(terms: &mut String, term: &str) {
    if term.len() > MAX_WORD_BYTES {
        return;
    }
    if !terms.is_empty() {
        terms.push(' ');
    }
    terms.push_str(term);
}

/// How many typos a query word may carry and still match: none up to 4 characters, one up
/// to 8, two from 9 (Damerau–Levenshtein edits; a transposition is one).
pub fn typo_budget(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// `text` with `& < > " '` escaped for HTML.
pub fn escape_html(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        words(text).into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn words_fold_case_accents_and_punctuation() {
        assert_eq!(
            texts("Café CRÈME, T-Shirt"),
            ["cafe", "creme", "t", "shirt"]
        );
        let w = &words("a Café")[1];
        assert_eq!(
            (w.start, w.end),
            (2, 7),
            "offsets are of the original bytes"
        );
    }

    #[test]
    fn index_terms_join_neighbours() {
        assert_eq!(
            index_terms(["Basic T-Shirt"]),
            "basic basict t tshirt shirt"
        );
        assert_eq!(index_terms(["a", "b c"]), "a b bc c");
    }

    #[test]
    fn typo_budget_grows_with_length() {
        let budgets: Vec<u8> = ["tee", "shrt", "hodie", "sweaters", "sweatshirt"]
            .iter()
            .map(|w| typo_budget(w))
            .collect();
        assert_eq!(budgets, [0, 0, 1, 1, 2]);
    }

    #[test]
    fn escaping_covers_markup() {
        let mut out = String::new();
        escape_html("<script>alert('x') & \"y\"</script>", &mut out);
        assert_eq!(
            out,
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
