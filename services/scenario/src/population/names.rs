//! Lists of common given names and family-name stems, each in Latin script
//! with its Cyrillic and Arabic-script forms, from which synthetic people
//! are named. A full name is a given name and a stem with the gendered
//! ending (-ov/-ova, -ev/-eva); no list holds a whole real person's name,
//! and stems that are the family names of public figures are left out.

/// One name in the three scripts: Latin, Cyrillic, Arabic.
pub type Forms = (&'static str, &'static str, &'static str);

/// The ending a family-name stem takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// -ov / -ova
    Ov,
    /// -ev / -eva
    Ev,
}

/// A family-name stem, before its ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stem {
    pub forms: Forms,
    pub ending: Ending,
}

impl Stem {
    /// The family name of a man (`male`) or a woman, in the three scripts.
    pub fn family_name(&self, male: bool) -> (String, String, String) {
        let (latin, cyrillic, arabic) = match (self.ending, male) {
            (Ending::Ov, true) => ("ov", "ов", "وف"),
            (Ending::Ov, false) => ("ova", "ова", "وفا"),
            (Ending::Ev, true) => ("ev", "ев", "يف"),
            (Ending::Ev, false) => ("eva", "ева", "يفا"),
        };
        (
            format!("{}{latin}", self.forms.0),
            format!("{}{cyrillic}", self.forms.1),
            format!("{}{arabic}", self.forms.2),
        )
    }
}

const fn ov(latin: &'static str, cyrillic: &'static str, arabic: &'static str) -> Stem {
    Stem {
        forms: (latin, cyrillic, arabic),
        ending: Ending::Ov,
    }
}

const fn ev(latin: &'static str, cyrillic: &'static str, arabic: &'static str) -> Stem {
    Stem {
        forms: (latin, cyrillic, arabic),
        ending: Ending::Ev,
    }
}

/// Names of one nationality.
#[derive(Debug)]
pub struct NameBook {
    pub female: &'static [Forms],
    pub male: &'static [Forms],
    pub stems: &'static [Stem],
}

pub const KAZAKH: NameBook = NameBook {
    female: &[
        ("Gulnar", "Гүлнар", "گلنار"),
        ("Aigerim", "Айгерім", "آيگريم"),
        ("Dana", "Дана", "دانا"),
        ("Aliya", "Әлия", "عالية"),
        ("Saule", "Сәуле", "ساوله"),
        ("Zhanar", "Жанар", "جانار"),
        ("Madina", "Мадина", "مدينة"),
        ("Asel", "Әсел", "أسل"),
        ("Botagoz", "Ботагөз", "بوتاگوز"),
        ("Dinara", "Динара", "دينارا"),
        ("Aizhan", "Айжан", "آيجان"),
        ("Kamila", "Камила", "كاملة"),
        ("Meruert", "Меруерт", "ميرويرت"),
        ("Nazira", "Назира", "نذيرة"),
        ("Raushan", "Раушан", "راوشان"),
        ("Symbat", "Сымбат", "سيمبات"),
        ("Togzhan", "Тоғжан", "توغجان"),
        ("Zarina", "Зарина", "زرينة"),
        ("Elmira", "Эльмира", "إلميرا"),
        ("Gaukhar", "Гауһар", "گوهر"),
        ("Ainur", "Айнұр", "آينور"),
        ("Bibigul", "Бибігүл", "بيبيگل"),
    ],
    male: &[
        ("Yerlan", "Ерлан", "يرلان"),
        ("Nurlan", "Нұрлан", "نورلان"),
        ("Daniyar", "Данияр", "دانيار"),
        ("Askar", "Асқар", "عسكر"),
        ("Bauyrzhan", "Бауыржан", "باويرجان"),
        ("Serik", "Серік", "سريك"),
        ("Marat", "Марат", "مرات"),
        ("Timur", "Тимур", "تيمور"),
        ("Azamat", "Азамат", "عظمت"),
        ("Yerzhan", "Ержан", "يرجان"),
        ("Arman", "Арман", "آرمان"),
        ("Kairat", "Қайрат", "قيرات"),
        ("Ruslan", "Руслан", "رسلان"),
        ("Aidos", "Айдос", "آيدوس"),
        ("Galym", "Ғалым", "غاليم"),
        ("Zhandos", "Жандос", "جاندوس"),
        ("Samat", "Самат", "صمد"),
        ("Talgat", "Талғат", "طلعت"),
    ],
    stems: &[
        ov("Sadykbek", "Садықбек", "صادقبيك"),
        ov("Ermek", "Ермек", "يرميك"),
        ov("Zhaksylyk", "Жақсылық", "جاقسيليق"),
        ov("Tulegen", "Төлеген", "توليگين"),
        ov("Baimukhamed", "Баймұхамед", "بايمحمد"),
        ov("Kenzhebek", "Кенжебек", "كنجبيك"),
        ov("Amanzhol", "Аманжол", "امانجول"),
        ov("Sultanbek", "Сұлтанбек", "سلطانبيك"),
        ov("Omarbek", "Омарбек", "عمربيك"),
        ov("Kasym", "Қасым", "قاسم"),
        ev("Zhumaba", "Жұмаба", "جمعةبا"),
        ev("Seitkali", "Сейітқали", "سيتقالي"),
        ov("Bekmurat", "Бекмұрат", "بيكمرات"),
        ov("Utegen", "Өтеген", "اوتيگين"),
        ev("Dauletba", "Дәулетба", "دولتبا"),
        ov("Iskak", "Ысқақ", "اسحاق"),
        ov("Mukan", "Мұқан", "موقان"),
        ov("Tokhtar", "Тохтар", "توختار"),
        ov("Akhmet", "Ахмет", "أحمد"),
        ev("Serikba", "Серікба", "سريكبا"),
        ov("Nurmukhan", "Нұрмұхан", "نورموخان"),
        ov("Abilkhair", "Әбілқайыр", "ابوالخير"),
    ],
};

pub const UZBEK: NameBook = NameBook {
    female: &[
        ("Dilnoza", "Дилноза", "دلنوزا"),
        ("Gulnora", "Гулнора", "گلنورا"),
        ("Malika", "Малика", "مليكة"),
        ("Nodira", "Нодира", "نادرة"),
        ("Shahnoza", "Шахноза", "شهنوزا"),
        ("Zulfiya", "Зульфия", "زلفية"),
        ("Mohira", "Мохира", "ماهرة"),
        ("Feruza", "Феруза", "فيروزة"),
        ("Sevara", "Севара", "سوارا"),
        ("Nilufar", "Нилуфар", "نيلوفر"),
        ("Barno", "Барно", "برنا"),
        ("Kamola", "Камола", "كمولا"),
        ("Umida", "Умида", "اميدة"),
        ("Dildora", "Дилдора", "دلدارا"),
        ("Nargiza", "Наргиза", "نرگيزا"),
        ("Lola", "Лола", "لالا"),
    ],
    male: &[
        ("Bobur", "Бобур", "بابر"),
        ("Jasur", "Жасур", "جسور"),
        ("Sardor", "Сардор", "سردار"),
        ("Otabek", "Отабек", "اوتابيك"),
        ("Sherzod", "Шерзод", "شيرزاد"),
        ("Jahongir", "Жахонгир", "جهانگير"),
        ("Farrukh", "Фаррух", "فرخ"),
        ("Rustam", "Рустам", "رستم"),
        ("Anvar", "Анвар", "أنور"),
        ("Dilshod", "Дилшод", "دلشاد"),
        ("Akmal", "Акмал", "أكمل"),
        ("Bekzod", "Бекзод", "بيكزاد"),
        ("Sanjar", "Санжар", "سنجر"),
        ("Javlon", "Жавлон", "جولان"),
    ],
    stems: &[
        ov("Rakhim", "Рахим", "رحيم"),
        ov("Yusup", "Юсуп", "يوسوب"),
        ov("Tursun", "Турсун", "تورسون"),
        ev("Abdulla", "Абдулла", "عبدالله"),
        ev("Ergash", "Эргаш", "ارگاش"),
        ov("Nazar", "Назар", "نظر"),
        ov("Sobir", "Собир", "صابر"),
        ov("Kholmat", "Холмат", "خلمت"),
        ov("Ibragim", "Ибрагим", "ابراهيم"),
        ov("Ismoil", "Исмоил", "اسماعيل"),
        ov("Khamid", "Хамид", "حامد"),
        ev("Mirza", "Мирза", "ميرزا"),
        ov("Sharip", "Шарип", "شريف"),
        ov("Usmon", "Усмон", "عثمان"),
        ov("Kurban", "Курбан", "قربان"),
        ov("Nurmat", "Нурмат", "نورمت"),
        ov("Alim", "Алим", "عليم"),
        ov("Tokhir", "Тохир", "طاهر"),
    ],
};

/// Arabic given names many children born in the camps or under Islamic
/// State were given, with their usual Russian-style Cyrillic spelling.
pub const ARABIC: NameBook = NameBook {
    female: &[
        ("Amina", "Амина", "آمنة"),
        ("Aisha", "Аиша", "عائشة"),
        ("Fatima", "Фатима", "فاطمة"),
        ("Khadija", "Хадиджа", "خديجة"),
        ("Maryam", "Марьям", "مريم"),
        ("Zainab", "Зайнаб", "زينب"),
        ("Safiya", "Сафия", "صفية"),
        ("Asiya", "Асия", "آسية"),
        ("Ruqayya", "Рукайя", "رقية"),
        ("Hafsa", "Хафса", "حفصة"),
        ("Sumayya", "Сумайя", "سمية"),
        ("Hajar", "Хаджар", "هاجر"),
        ("Salma", "Салма", "سلمى"),
        ("Sara", "Сара", "سارة"),
        ("Yasmin", "Ясмин", "ياسمين"),
        ("Halima", "Халима", "حليمة"),
    ],
    male: &[
        ("Yusuf", "Юсуф", "يوسف"),
        ("Ibrahim", "Ибрагим", "إبراهيم"),
        ("Abdullah", "Абдулла", "عبد الله"),
        ("Umar", "Умар", "عمر"),
        ("Hamza", "Хамза", "حمزة"),
        ("Ali", "Али", "علي"),
        ("Muhammad", "Мухаммад", "محمد"),
        ("Bilal", "Билал", "بلال"),
        ("Khalid", "Халид", "خالد"),
        ("Zakariya", "Закария", "زكريا"),
        ("Ismail", "Исмаил", "إسماعيل"),
        ("Musa", "Муса", "موسى"),
        ("Isa", "Иса", "عيسى"),
        ("Yahya", "Яхья", "يحيى"),
        ("Harun", "Харун", "هارون"),
        ("Idris", "Идрис", "إدريس"),
        ("Salih", "Салих", "صالح"),
        ("Anas", "Анас", "أنس"),
    ],
    stems: &[],
};

#[cfg(test)]
mod tests {
    use homeward_census::{Name, Script};

    use super::*;

    fn check(forms: (&str, &str, &str)) {
        for (script, value) in [
            (Script::Latin, forms.0),
            (Script::Cyrillic, forms.1),
            (Script::Arabic, forms.2),
        ] {
            if let Err(e) = Name::new(script, value) {
                panic!("{value:?} ({script:?}): {e}");
            }
        }
    }

    #[test]
    fn every_name_is_in_its_script() {
        for book in [&KAZAKH, &UZBEK, &ARABIC] {
            for forms in book.female.iter().chain(book.male) {
                check(*forms);
            }
            for stem in book.stems {
                for male in [true, false] {
                    let (latin, cyrillic, arabic) = stem.family_name(male);
                    check((&latin, &cyrillic, &arabic));
                }
            }
        }
    }

    #[test]
    fn no_name_is_listed_twice_in_a_book() {
        for book in [&KAZAKH, &UZBEK, &ARABIC] {
            let mut latin: Vec<&str> = book
                .female
                .iter()
                .chain(book.male)
                .map(|f| f.0)
                .chain(book.stems.iter().map(|s| s.forms.0))
                .collect();
            let count = latin.len();
            latin.sort_unstable();
            latin.dedup();
            assert_eq!(latin.len(), count);
        }
    }
}
