//! A store's synonyms: groups of words or short phrases that match one another
//! (`[["tee","t-shirt"],["hoodie","sweatshirt"]]`).

use super::text;
use std::collections::HashMap;

/// The groups as the store set them, and for each folded form the other forms of its group.
#[derive(Debug, Default)]
pub struct Synonyms {
    groups: Vec<Vec<String>>,
    forms: HashMap<String, Vec<String>>,
}

/// A word or phrase folded to one index term: `T-Shirt` → `tshirt` (the index also holds
/// neighbouring words joined, so the phrase is found either way).
pub fn fold(phrase: &str) -> String {
    text::words(phrase).into_iter().map(|w| w.text).collect()
}

impl Synonyms {
    /// The table of `groups`.
    pub fn new(groups: Vec<Vec<String>>) -> Self {
        let mut forms: HashMap<String, Vec<String>> = HashMap::new();
        for group in &groups {
            let folded: Vec<String> = group.iter().map(|g| fold(g)).collect();
            for form in &folded {
                let others = forms.entry(form.clone()).or_default();
                for other in &folded {
                    if other != form && !others.contains(other) {
                        others.push(other.clone());
                    }
                }
            }
        }
        Self { groups, forms }
    }

    /// The forms that count as `form` (folded).
    pub fn of(&self, form: &str) -> &[String] {
        self.forms.get(form).map_or(&[], Vec::as_slice)
    }

    /// The groups as set.
    pub fn groups(&self) -> &[Vec<String>] {
        &self.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_of_a_group_names_the_others() {
        let s = Synonyms::new(vec![
            vec!["tee".into(), "T-Shirt".into()],
            vec!["hoodie".into(), "sweatshirt".into(), "jumper".into()],
        ]);
        assert_eq!(s.of("tee"), ["tshirt"]);
        assert_eq!(s.of("tshirt"), ["tee"]);
        assert_eq!(s.of("jumper"), ["hoodie", "sweatshirt"]);
        assert!(s.of("cap").is_empty());
    }
}
