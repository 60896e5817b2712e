//! From a name as written, in any of the three scripts, to tokens in one
//! broad Latin form.
//!
//! Each letter is transliterated on its own, whatever script the name
//! declares (camp registers mix them). The tables follow the national
//! conventions where they differ from Russian: Kazakh Қ→q, Ғ→gh, Ң→ng,
//! Ү/Ұ→u, Ө→o, І→i, Ә→a, Һ→h; Uzbek Ў→o, Ҳ→h and Latin oʻ/gʻ; Tajik Ӣ, Ӯ,
//! Ҷ; Turkmen Җ and Latin ş, ç, ž, ň, ý, ä. The broad form keeps the
//! digraphs (kh, zh, sh, ch, gh); [`crate::name`] folds the variants
//! further. Arabic script writes few short vowels, so its letters become
//! consonants with the long vowels (ا و ي) as a, u, i; the phonetic key
//! compares what both scripts keep.

use unicode_normalization::UnicodeNormalization;

/// The script a token was written in, as far as comparison cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Latin,
    Cyrillic,
    Arabic,
}

/// One word of a name, in broad Latin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub latin: String,
    pub written: Written,
}

/// The tokens of a name: words, transliterated, with particles dropped and
/// Arabic compounds ("Abd Allah", "عبد الله") joined into one.
pub fn tokens(value: &str) -> Vec<Token> {
    let text: String = value.nfc().collect::<String>().to_lowercase();
    let mut out: Vec<Token> = Vec::new();
    for word in
        text.split(|c: char| c.is_whitespace() || matches!(c, '-' | ',' | '.' | '/' | '(' | ')'))
    {
        if word.is_empty() {
            continue;
        }
        let written = written(word);
        let latin = transliterate(word, written);
        if latin.is_empty() || PARTICLES.contains(&latin.as_str()) {
            continue;
        }
        // "Abd" and "Abdul" take the next word: Abd Allah, Abdul Karim.
        if let Some(last) = out.last_mut()
            && matches!(last.latin.as_str(), "abd" | "abdul" | "abdel" | "abdu")
        {
            last.latin.push_str(&latin);
            continue;
        }
        out.push(Token { latin, written });
    }
    out
}

/// Words that are no part of a name to compare: "son of", "daughter of".
const PARTICLES: [&str; 5] = ["ibn", "bin", "bint", "binti", "ben"];

/// The child's name a kunya points to ("Umm Yusuf", "أم يوسف", "Abu Umar"),
/// or `None` when the name is not a kunya.
pub fn kunya(value: &str) -> Option<Vec<Token>> {
    let tokens = tokens(value);
    let first = tokens.first()?;
    let prefix = matches!(
        first.latin.as_str(),
        "umm" | "um" | "ummu" | "om" | "oum" | "abu" | "abou" | "abo" | "ab" | "abi"
    );
    // Arabic أم and ام transliterate to "am"; أبو to "abu".
    let arabic_umm = first.written == Written::Arabic && first.latin == "am";
    (tokens.len() >= 2 && (prefix || arabic_umm)).then(|| tokens[1..].to_vec())
}

fn written(word: &str) -> Written {
    let mut written = Written::Latin;
    for c in word.chars() {
        match c {
            '\u{0400}'..='\u{04FF}' => return Written::Cyrillic,
            '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' => written = Written::Arabic,
            _ => {}
        }
    }
    written
}

fn transliterate(word: &str, written: Written) -> String {
    match written {
        Written::Arabic => arabic(word),
        Written::Cyrillic | Written::Latin => {
            let mut out = String::with_capacity(word.len());
            let chars: Vec<char> = word.chars().collect();
            for (i, &c) in chars.iter().enumerate() {
                // Uzbek oʻ and gʻ: the modifier letter (or an apostrophe)
                // after o or g only marks the vowel or the fricative.
                if is_apostrophe(c) {
                    if i > 0 && chars[i - 1] == 'g' {
                        out.push('h');
                    }
                    continue;
                }
                match cyrillic(c) {
                    Some(latin) => out.push_str(latin),
                    None => latin_letter(c, &mut out),
                }
            }
            out
        }
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | 'ʻ' | 'ʼ' | '‘' | '’' | '`' | 'ʹ' | 'ʿ' | 'ʾ')
}

/// A Latin letter, possibly with a diacritic, into plain a-z.
fn latin_letter(c: char, out: &mut String) {
    let special = match c {
        'ş' | 'ș' => "sh",
        'ç' => "ch",
        'ž' => "zh",
        'ň' | 'ñ' => "ng",
        'ğ' => "gh",
        'ı' => "i",
        'ý' => "y",
        'ə' => "a",
        'ß' => "ss",
        _ => "",
    };
    if !special.is_empty() {
        out.push_str(special);
        return;
    }
    for d in c.to_string().nfd() {
        if d.is_ascii_lowercase() {
            out.push(d);
        }
    }
}

/// Cyrillic, with the letters of Kazakh, Uzbek, Tajik, Kyrgyz and Turkmen.
fn cyrillic(c: char) -> Option<&'static str> {
    Some(match c {
        'а' | 'ә' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'ғ' | 'ҕ' => "gh",
        'д' => "d",
        'е' | 'э' => "e",
        'ё' => "yo",
        'ж' => "zh",
        'җ' | 'ҷ' => "j",
        'з' => "z",
        'и' | 'і' | 'ӣ' => "i",
        'й' => "y",
        'к' => "k",
        'қ' | 'ҡ' => "q",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'ң' => "ng",
        'о' | 'ө' | 'ў' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' | 'ү' | 'ұ' | 'ӯ' => "u",
        'ф' => "f",
        'х' => "kh",
        'ҳ' | 'һ' => "h",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ъ' | 'ь' => "",
        'ы' => "y",
        'ю' => "yu",
        'я' => "ya",
        _ => return None,
    })
}

fn arabic(word: &str) -> String {
    // The one word whose final ه is not a vowel in these names.
    if word == "الله" {
        return "allah".into();
    }
    let chars: Vec<char> = word
        .chars()
        // Short-vowel marks, shadda, sukun and the tatweel are dropped.
        .filter(|c| !matches!(c, '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}'))
        .collect();
    let mut out = String::with_capacity(chars.len() * 2);
    for (i, &c) in chars.iter().enumerate() {
        let first = i == 0;
        let last = i + 1 == chars.len();
        let latin = match c {
            'ا' | 'أ' | 'آ' | 'ى' | 'ة' => "a",
            'إ' | 'ئ' => "i",
            'ؤ' => "u",
            // An initial ayn carries the vowel (عبد Abd, عمر Umar).
            'ع' if first => "a",
            'ء' | 'ع' => "",
            'ب' => "b",
            'پ' => "p",
            'ت' | 'ط' => "t",
            'ث' | 'س' | 'ص' => "s",
            'ج' => "j",
            'چ' => "ch",
            'ح' => "h",
            'خ' => "kh",
            'د' => "d",
            'ذ' | 'ز' | 'ض' | 'ظ' => "z",
            'ر' => "r",
            'ژ' => "zh",
            'ش' => "sh",
            'غ' => "gh",
            'ف' => "f",
            'ق' => "q",
            'ك' | 'ک' => "k",
            'گ' => "g",
            'ڭ' => "ng",
            'ل' => "l",
            'م' => "m",
            'ن' => "n",
            // A final ه after a consonant writes a vowel (Saule ساوله).
            'ه' | 'ە' if last && !first => "e",
            'ه' | 'ە' => "h",
            'و' | 'ۇ' | 'ۆ' | 'ۋ' if first => "v",
            'و' | 'ۇ' | 'ۆ' | 'ۋ' => "u",
            'ي' | 'ی' | 'ێ' if first => "y",
            'ي' | 'ی' | 'ێ' => "i",
            _ => "",
        };
        out.push_str(latin);
    }
    out
}

/// Gendered and patronymic endings of family names, longest first, as they
/// come out of [`tokens`]; the Arabic-script ones (وف, وفا, يف, يفا) only
/// for tokens written in Arabic script.
const ENDINGS: [&str; 26] = [
    "ovich", "evich", "ovna", "evna", "yeva", "yewa", "kyzy", "qyzy", "qizi", "kizi", "uulu",
    "zoda", "zada", "zade", "ova", "eva", "owa", "yev", "yew", "off", "uly", "uli", "ov", "ev",
    "ow", "iy",
];
const ARABIC_ENDINGS: [&str; 4] = ["ufa", "ifa", "uf", "if"];

/// The stem of a possible family name, with its gendered ending removed
/// (Sadykbekova, Садықбекова, Sadykbekuly → sadykbek), or `None` when the
/// token has no such ending. The stem keeps at least three letters.
pub fn family_stem(token: &Token) -> Option<String> {
    let word = token.latin.as_str();
    let arabic: &[&str] = if token.written == Written::Arabic {
        &ARABIC_ENDINGS
    } else {
        &[]
    };
    for ending in ENDINGS.iter().chain(arabic) {
        if let Some(stem) = word.strip_suffix(ending)
            && stem.chars().count() >= 3
        {
            return Some(stem.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latin(value: &str) -> Vec<String> {
        tokens(value).into_iter().map(|t| t.latin).collect()
    }

    #[test]
    fn kazakh_cyrillic_letters_have_their_own_latin() {
        assert_eq!(latin("Гүлнар Садықбекова"), ["gulnar", "sadyqbekova"]);
        assert_eq!(latin("Тоғжан Әбілқайырова"), ["toghzhan", "abilqayyrova"]);
        assert_eq!(latin("Нұрлан Өтегенов"), ["nurlan", "otegenov"]);
    }

    #[test]
    fn uzbek_latin_apostrophes_fold() {
        assert_eq!(latin("Gʻulom Oʻrinboyev"), ["ghulom", "orinboyev"]);
        assert_eq!(latin("G'ulom"), ["ghulom"]);
    }

    #[test]
    fn turkmen_latin_letters_fold() {
        assert_eq!(latin("Aýgül Şükürowa"), ["aygul", "shukurowa"]);
    }

    #[test]
    fn arabic_letters_become_consonants_and_long_vowels() {
        assert_eq!(latin("يوسف"), ["yusf"]);
        assert_eq!(latin("عظمت"), ["azmt"]);
        assert_eq!(latin("عبد الله"), ["abdallah"]);
        assert_eq!(latin("ساوله"), ["saule"]);
    }

    #[test]
    fn kunyas_point_to_a_child() {
        let child = |v: &str| kunya(v).map(|t| t[0].latin.clone());
        assert_eq!(child("Umm Yusuf").as_deref(), Some("yusuf"));
        assert_eq!(child("أم يوسف").as_deref(), Some("yusf"));
        assert_eq!(child("Abu Umar").as_deref(), Some("umar"));
        assert_eq!(child("Amina"), None);
        assert_eq!(child("Umida Rakhimova"), None);
    }

    #[test]
    fn family_endings_come_off() {
        let stem = |v: &str| family_stem(&tokens(v)[0]);
        assert_eq!(stem("Садықбекова").as_deref(), Some("sadyqbek"));
        assert_eq!(stem("Sadykbekuly").as_deref(), Some("sadykbek"));
        assert_eq!(stem("Ermekovich").as_deref(), Some("ermek"));
        assert_eq!(stem("صادقبيكوفا").as_deref(), Some("sadqbik"));
        assert_eq!(stem("Yusuf"), None);
        assert_eq!(stem("Eva"), None);
    }
}
