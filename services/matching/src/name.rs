//! Name tokens in the two forms they are compared in, and how closely two
//! tokens agree.
//!
//! - The **comparison form** folds the transliteration variants of one
//!   spelling: kh/h/x, zh/j/dzh, q/k, gh/g, y/i, w/v, ou/u, initial ye/e,
//!   doubled letters. Two official spellings of one name, from Cyrillic and from a
//!   passport's Latin, end up equal.
//! - The **phonetic key** keeps only the consonants, with the pairs that
//!   scripts and devoicing confuse merged (d/t, p/f, j/g, sh, ch). Arabic script
//!   writes few vowels, so this is the form in which "عظمت" and "Azamat"
//!   agree (both `zmt`).
//!
//! Jaro-Winkler (the `strsim` crate) grades what is close but not equal.

use serde::Serialize;

/// How closely two name tokens agree, best first. Each level has its own
/// weight in [`crate::weights`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameLevel {
    /// The comparison forms are equal.
    Exact,
    /// The phonetic keys are equal.
    Phonetic,
    /// Jaro-Winkler of the comparison forms at least 0.92.
    Close,
    /// Jaro-Winkler at least 0.84, or of the phonetic keys at least 0.88.
    Fuzzy,
    /// None of these.
    Disagree,
}

/// The comparison form of a broad Latin token.
pub fn comparison_form(latin: &str) -> String {
    let chars: Vec<char> = latin.chars().collect();
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let next = chars.get(i + 1).copied();
        let third = chars.get(i + 2).copied();
        let (text, used) = match (chars[i], next, third) {
            ('d', Some('z'), Some('h')) => ("j", 3),
            ('z', Some('h'), _) | ('d', Some('j'), _) => ("j", 2),
            ('k', Some('h'), _) => ("h", 2),
            ('g', Some('h'), _) => ("g", 2),
            ('p', Some('h'), _) => ("f", 2),
            ('o', Some('u'), _) => ("u", 2),
            ('y', Some('e'), _) if i == 0 => ("e", 2),
            ('c', Some('h'), _) => ("ch", 2),
            ('s', Some('h'), _) => ("sh", 2),
            ('c', _, _) => ("k", 1),
            ('q', _, _) => ("k", 1),
            ('w', _, _) => ("v", 1),
            ('y', _, _) => ("i", 1),
            // Uzbek Latin (and the Kazakh Latin alphabets) write х as x.
            ('x', _, _) => ("h", 1),
            (c, _, _) if c.is_ascii_lowercase() => {
                out.push(c);
                i += 1;
                continue;
            }
            _ => ("", 1),
        };
        out.push_str(text);
        i += used;
    }
    collapse(&out)
}

/// The phonetic key of a comparison form: its consonants.
pub fn phonetic_key(form: &str) -> String {
    let chars: Vec<char> = form.chars().collect();
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let next = chars.get(i + 1).copied();
        let (c, used) = match (chars[i], next) {
            ('s', Some('h')) => ('x', 2),
            ('c', Some('h')) => ('c', 2),
            ('a' | 'e' | 'i' | 'o' | 'u' | 'v', _) => ('\0', 1),
            ('d', _) => ('t', 1),
            // Arabic script has no g: clerks write ج (j) for it.
            ('j', _) => ('g', 1),
            ('p', _) => ('f', 1),
            (c, _) => (c, 1),
        };
        if c != '\0' {
            out.push(c);
        }
        i += used;
    }
    collapse(&out)
}

fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = None;
    for c in text.chars() {
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    }
    out
}

/// A token ready to compare: both forms, and how often each letter occurs
/// in them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Form {
    pub form: String,
    pub key: String,
    form_letters: Letters,
    key_letters: Letters,
}

impl Form {
    pub fn of(latin: &str) -> Self {
        let form = comparison_form(latin);
        let key = phonetic_key(&form);
        Self {
            form_letters: Letters::of(&form),
            key_letters: Letters::of(&key),
            form,
            key,
        }
    }
}

/// Which letters a-z a form has, and how often each occurs (both forms
/// are ASCII).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Letters {
    len: u32,
    present: u32,
    counts: [u8; 26],
}

impl Letters {
    fn of(text: &str) -> Self {
        let mut counts = [0u8; 26];
        let mut present = 0u32;
        let mut len = 0;
        for b in text.bytes().filter(u8::is_ascii_lowercase) {
            let letter = b - b'a';
            counts[usize::from(letter)] = counts[usize::from(letter)].saturating_add(1);
            present |= 1 << letter;
            len += 1;
        }
        Self {
            len,
            present,
            counts,
        }
    }

    /// Whether two texts of these letters can have a Jaro-Winkler
    /// similarity of `at_least`: Jaro's matching characters are at most the
    /// letters they have in common, and the prefix bonus is at most 0.4 of
    /// the rest. Comparing a camp token with every registry token, this
    /// skips almost every Jaro-Winkler computation without changing any
    /// result. The letter sets decide most pairs; the counts the rest.
    fn may_reach(&self, other: &Letters, at_least: f64) -> bool {
        let bound = |common: u32| {
            if common == 0 {
                return 0.0;
            }
            let m = f64::from(common);
            let jaro = (m / f64::from(self.len) + m / f64::from(other.len) + 1.0) / 3.0;
            jaro + 0.4 * (1.0 - jaro)
        };
        // Every letter one text has and the other lacks is at least one
        // character that cannot match.
        let only_self = (self.present & !other.present).count_ones();
        let only_other = (other.present & !self.present).count_ones();
        let common = (self.len.saturating_sub(only_self)).min(other.len.saturating_sub(only_other));
        if bound(common) < at_least {
            return false;
        }
        let common: u32 = self
            .counts
            .iter()
            .zip(&other.counts)
            .map(|(a, b)| u32::from(*a.min(b)))
            .sum();
        bound(common) >= at_least
    }
}

/// How closely two tokens agree.
pub fn compare(a: &Form, b: &Form) -> NameLevel {
    if a.form == b.form {
        return NameLevel::Exact;
    }
    if a.key.len() >= 2 && a.key == b.key {
        return NameLevel::Phonetic;
    }
    if a.form_letters.may_reach(&b.form_letters, 0.84) {
        let jw = strsim::jaro_winkler(&a.form, &b.form);
        if jw >= 0.92 {
            return NameLevel::Close;
        }
        if jw >= 0.84 {
            return NameLevel::Fuzzy;
        }
    }
    if a.key.len() >= 2
        && a.key_letters.may_reach(&b.key_letters, 0.88)
        && strsim::jaro_winkler(&a.key, &b.key) >= 0.88
    {
        return NameLevel::Fuzzy;
    }
    NameLevel::Disagree
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::tokens;

    fn form(value: &str) -> Form {
        Form::of(&tokens(value)[0].latin)
    }

    #[test]
    fn official_spellings_from_both_scripts_are_equal() {
        assert_eq!(form("Садықбек"), form("Sadykbek"));
        assert_eq!(form("Жанар"), form("Zhanar"));
        assert_eq!(form("Ерлан"), form("Yerlan"));
        assert_eq!(form("Тоғжан"), form("Togzhan"));
    }

    #[test]
    fn arabic_script_agrees_by_its_consonants() {
        assert_eq!(compare(&form("عظمت"), &form("Azamat")), NameLevel::Phonetic);
        // Where Arabic script writes every vowel, the forms are equal.
        assert_eq!(compare(&form("جانار"), &form("Zhanar")), NameLevel::Exact);
        assert_eq!(compare(&form("يوسف"), &form("Yusuf")), NameLevel::Phonetic);
        assert_eq!(compare(&form("أحمد"), &form("Akhmet")), NameLevel::Phonetic);
        assert_eq!(
            compare(&form("جولنار"), &form("Gulnar")),
            NameLevel::Phonetic
        );
    }

    #[test]
    fn variants_are_close_and_strangers_disagree() {
        assert!(compare(&form("Gulnara"), &form("Gulnar")) <= NameLevel::Close);
        assert_eq!(
            compare(&form("Dilnoza"), &form("Bekzod")),
            NameLevel::Disagree
        );
    }
}
